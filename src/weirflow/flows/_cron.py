"""Checking the schedule a pipeline is given: intervals, cron expressions and time zones.

:func:`schedule_of` turns ``add_pipeline``'s arguments into a
:class:`~weirflow.flows._schedule.Schedule`, every value checked. :func:`check_cron` accepts
what the :class:`~weirflow.flows._schedule.Cron` schedule can run and says precisely what is
wrong otherwise (``minute 61 is out of range 0-59``), including an expression that is valid
field by field but never fires (``0 0 31 2 *``). :func:`check_timezone` accepts an IANA zone
name (``"Europe/Paris"``) and suggests one for a misspelt name.

The accepted forms (:data:`FORMS`): five fields ``minute hour day-of-month month day-of-week``;
a sixth field for the **seconds, at the end** (croniter's order, not Quartz's: ``"*/5 * * * *
30"`` is every five minutes at second 30); a seventh for the year after the seconds; or a
nickname (``@hourly``, ``@daily``, ``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``,
``@annually``).
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import UTC, datetime, tzinfo
from typing import Any

from croniter import CroniterBadDateError, croniter

from .._errors import ConfigError
from .._hints import shown
from ._schedule import MAX_YEARS, Cron, Interval, Once, Schedule
from ._validate import check_minutes, check_seconds

FORMS = (
    "five fields 'minute hour day-of-month month day-of-week' (e.g. '*/5 * * * *'), a sixth "
    "field for the seconds at the end ('*/5 * * * * 30': every five minutes at second 30), a "
    "seventh for the year after it, or @hourly, @daily, @midnight, @weekly, @monthly, @yearly, "
    "@annually"
)
NICKNAMES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
# (name, lowest, highest) of each field, in croniter's order.
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
    ("second", 0, 59),
    ("year", 1970, 2099),
)
_NUMBER = re.compile(r"\d+")


def schedule_of(
    where: str,
    timedelta_seconds: Any,
    timedelta_minutes: Any,
    cron: Any,
    timezone: Any,
    delay_seconds: Any,
) -> Schedule | None:
    """The schedule ``add_pipeline`` was given (None: once, at once), every value checked."""
    delay = check_seconds(delay_seconds, where, "add_pipeline(delay_seconds=...)")
    given = [
        name
        for name, value in (
            ("timedelta_seconds", timedelta_seconds),
            ("timedelta_minutes", timedelta_minutes),
            ("cron", cron),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise ConfigError(
            f"{where}: add_pipeline got {' and '.join(given)}; give one schedule, not both"
        )
    if timezone is not None and cron is None:
        raise ConfigError(
            f"{where}: add_pipeline(timezone=...) is for cron schedules only; remove it, or "
            "give a cron expression"
        )
    if timedelta_minutes is not None:
        seconds = check_minutes(timedelta_minutes, where, "add_pipeline(timedelta_minutes=...)")
        return Interval(seconds, delay)
    if timedelta_seconds is not None:
        seconds = check_seconds(
            timedelta_seconds, where, "add_pipeline(timedelta_seconds=...)", positive=True
        )
        return Interval(seconds, delay)
    if cron is not None:
        zone = (
            "UTC"
            if timezone is None
            else check_timezone(timezone, f"{where}: add_pipeline(timezone=...)")
        )
        expression = check_cron(cron, f"{where}: add_pipeline(cron=...)", zone)
        return Cron(expression, delay, zone)
    return Once(delay) if delay else None


def check_cron(expression: Any, where: str, timezone: str = "UTC") -> str:
    """``expression`` (stripped) if the schedule can run it, else a :class:`ConfigError`.

    Args:
        expression: the ``cron=`` argument.
        where: what the message starts with (``pipeline 'p': add_pipeline(cron=...)``).
        timezone: the zone the expression is read in (checked already).

    Example:
        >>> check_cron("61 * * * *", "pipeline 'p': add_pipeline(cron=...)")
        Traceback (most recent call last):
        ...
        weirflow.ConfigError: pipeline 'p': add_pipeline(cron=...): '61 * * * *': minute 61 is out of range 0-59
    """  # noqa: E501
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(
            f"{where}: give a cron expression as a str, got {shown(expression)}; the accepted "
            f"forms are {FORMS}"
        )
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text.lower() not in NICKNAMES:
            raise ConfigError(
                f"{where}: {text!r} is not a cron nickname; use one of {', '.join(NICKNAMES)}"
            )
        return text.lower()
    fields = text.split(" ")
    if not 5 <= len(fields) <= 7:
        raise ConfigError(
            f"{where}: {shown(text)} has {len(fields)} field{'s' * (len(fields) != 1)}; the "
            f"accepted forms are {FORMS}"
        )
    if not croniter.is_valid(text):
        raise ConfigError(f"{where}: {text!r}: {_problem(fields)}")
    _check_quartz_order(fields, text, where)
    try:
        now = datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(timezone))
        croniter(text, now, max_years_between_matches=MAX_YEARS).get_next(datetime)
    except CroniterBadDateError:
        raise ConfigError(
            f"{where}: {text!r} never fires: no date matches its day-of-month, month"
            f"{', year' if len(fields) == 7 else ''} and day-of-week fields together (e.g. "
            "February 31st); check those fields"
        ) from None
    return text


def check_timezone(value: Any, where: str) -> str:
    """An IANA time zone name (``"Europe/Paris"``; a ``ZoneInfo`` gives its key), else a
    :class:`ConfigError` with the closest known names.

    Example:
        >>> check_timezone("Europe/Pari", "pipeline 'p': add_pipeline(timezone=...)")
        Traceback (most recent call last):
        ...
        weirflow.ConfigError: pipeline 'p': add_pipeline(timezone=...): unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?); give an IANA name such as 'UTC' or 'Europe/Paris'
    """  # noqa: E501
    if isinstance(value, zoneinfo.ZoneInfo):
        value = value.key
    elif value is UTC:
        value = "UTC"
    elif isinstance(value, tzinfo):
        raise ConfigError(
            f"{where}: give the zone's IANA name (e.g. 'Europe/Paris') or a zoneinfo.ZoneInfo, "
            f"got {type(value).__name__} {shown(value)}; a fixed offset does not follow "
            "daylight saving time"
        )
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where}: give an IANA time zone name such as 'UTC' or 'Europe/Paris', got "
            f"{shown(value)}"
        )
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long
        known = sorted(zoneinfo.available_timezones())
        by_lower = {name.lower(): name for name in known}
        close = [by_lower[value.lower()]] if value.lower() in by_lower else []
        close = close or difflib.get_close_matches(value, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{where}: unknown time zone {shown(value)}{hint}; give an IANA name such as 'UTC' "
            "or 'Europe/Paris'"
        ) from None
    return value


def _problem(fields: list[str]) -> str:
    """What is wrong with an expression croniter refuses: the first bad field, said plainly."""
    for position, field in enumerate(fields):
        name, low, high = _FIELDS[position]
        if _field_valid(fields, position):
            continue
        if "?" in field and position not in (2, 4):
            return (
                f"'?' can only stand for the day of month or the day of week, not the {name}; "
                "weirflow reads the seconds from the sixth field, at the end (Quartz's "
                "'0 */5 * * * ?' is '*/5 * * * * 0' here)"
            )
        for part in field.split(","):
            base, _, step = part.partition("/")
            if "/" in part and (not step.isdigit() or int(step) == 0):
                return f"the step {step!r} of the {name} field must be a whole number >= 1"
            for number in _NUMBER.findall(base):
                if not low <= int(number) <= high:
                    return f"{name} {number} is out of range {low}-{high}"
        return (
            f"the {name} field {field!r} is not valid; write a number, a range 'a-b', a list "
            "'a,b', a step '*/n' or '*'"
        )
    return f"it is not a valid cron expression; the accepted forms are {FORMS}"


def _field_valid(fields: list[str], position: int) -> bool:
    probe = ["*"] * len(fields)
    probe[position] = fields[position]
    return bool(croniter.is_valid(" ".join(probe)))


def _check_quartz_order(fields: list[str], text: str, where: str) -> None:
    """Refuse a six-field expression that reads as Quartz's (seconds first) by mistake.

    ``"0 */5 * * * *"`` means "every five minutes" in Quartz, but here, with the seconds last,
    it fires every second of minute 0 of every fifth hour. A seconds field of ``*`` after a
    restricted minute field is almost always that mistake; ``*/1`` says "every second" on
    purpose.
    """
    if len(fields) == 6 and fields[5] == "*" and fields[0] != "*":
        five = " ".join(fields[1:]).replace("?", "*")
        raise ConfigError(
            f"{where}: {text!r} fires every second of its minutes: the sixth field is the "
            f"seconds, at the end (croniter's order, not Quartz's); for Quartz's meaning write "
            f"'{five} {fields[0]}', and for every second write '*/1' as the sixth field"
        )
