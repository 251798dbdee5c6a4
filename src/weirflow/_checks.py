"""Argument checks: the one module every layer validates user input with, and where it came from.

Each ``check_*`` function returns the value (normalised: an ``int``, a ``float``, a ``bool``) when
it is acceptable and raises otherwise, with a message naming where the value was given, the
field, what is accepted and what was received (a short repr, :func:`~weirflow._hints.shown`: a
huge value never floods a message). Booleans are never numbers here (``workers=True`` is a
mistake, not 1); NaN and the infinities are never accepted, so a bad number fails when the
stage or flow is made, not as a busy loop or an ``OverflowError`` at run time.

Where an option came from is said in one of two ways:

- a place, a ``str`` such as ``"pipeline 'p', stage 'p.storage'"`` (the builder, the
  storages): the message reads ``<place>: <field> must be <what>, got <value>`` and the error
  is a :class:`~weirflow.ConfigError`;
- a :class:`Where` (the connectors: ``pipeline 'p': send('mqtt', timeout=...)``): the message
  reads ``<where.field(field)>: give <what>, got <value>`` and the error an
  :class:`~weirflow.InvalidArgumentError` (a ``ConfigError`` and a ``ValueError``).

A storage made by the builder names the pipeline and method it was given in, not its class:
:func:`configuring` sets that place for the checks run inside it, :func:`place` reads it.
The functional API's own checks (:func:`check_positive_number`, :func:`check_whole_number`)
take an optional place and an error class.

Example:
    >>> from weirflow._checks import Where, check_positive_number, check_seconds
    >>> check_positive_number(2, "timeout", allow_zero=True)
    2.0
    >>> try:
    ...     check_positive_number(float("nan"), "timeout", where="stage 'x'")
    ... except ValueError as error:
    ...     print(error)
    stage 'x': timeout must be a finite number > 0, got nan
    >>> try:
    ...     check_seconds(-1, Where("p", "send('mqtt', {name}=...)"), "timeout", positive=True)
    ... except ValueError as error:
    ...     print(error)
    pipeline 'p': send('mqtt', timeout=...): give a number of seconds > 0 and at most 316224000 (ten years), got -1
"""  # noqa: E501

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ._errors import ConfigError, InvalidArgumentError
from ._hints import shown

ErrorType = type[Exception]

MAX_SECONDS = 10 * 366 * 24 * 3600
"""The longest interval, delay, timeout or backoff accepted: ten years, in seconds."""


@dataclass(frozen=True)
class Where:
    """Where a connector's options were given: ``pipeline 'p': MqttSource(qos=...)``.

    ``template`` shows one field, e.g. ``"send('http_post', {name}=...)"``; ``stage`` (a
    ``pipeline.stage`` label), when known, is named too.

    Example:
        >>> Where("plant", "MqttSource({name}=...)").field("qos")
        "pipeline 'plant': MqttSource(qos=...)"
        >>> str(Where("plant", stage="plant.sender"))
        "pipeline 'plant', stage 'plant.sender'"
    """

    pipeline: str
    template: str = "{name}"
    stage: str | None = None

    def __str__(self) -> str:
        stage = "" if self.stage is None else f", stage {self.stage!r}"
        return f"pipeline {self.pipeline!r}{stage}"

    def field(self, name: str) -> str:
        """How messages name the field ``name``."""
        return f"{self}: {self.template.format(name=name)}"


_place: ContextVar[str | None] = ContextVar("weirflow_option_place", default=None)


@contextlib.contextmanager
def configuring(where: str) -> Iterator[None]:
    """Name the place options come from in the ``ConfigError`` messages raised inside."""
    token = _place.set(where)
    try:
        yield
    finally:
        _place.reset(token)


def place(default: str) -> str:
    """The place of configuration errors: the :func:`configuring` context, or ``default``."""
    return _place.get() or default


def is_number(value: Any) -> bool:
    """A real number that is not a ``bool`` (it may be NaN or infinite)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A number that is neither NaN nor infinite (a huge ``int`` is finite)."""
    if not is_number(value):
        return False
    if isinstance(value, numbers.Integral):
        return True
    try:
        return math.isfinite(value)
    except (OverflowError, TypeError, ValueError):
        return False


def refuse(where: str | Where, field: str, wanted: str, value: Any) -> ConfigError:
    """The error for ``value`` given as ``field``: ``wanted`` says what to give instead."""
    if isinstance(where, Where):
        return InvalidArgumentError(f"{where.field(field)}: give {wanted}, got {shown(value)}")
    return ConfigError(f"{where}: {field} must be {wanted}, got {shown(value)}")


def check_seconds(value: Any, where: str | Where, field: str, *, positive: bool = False) -> float:
    """A finite number of seconds, >= 0 (> 0 if ``positive``), at most :data:`MAX_SECONDS`.

    Example:
        >>> check_seconds(float("nan"), "pipeline 'p'", "add_pipeline(timedelta_seconds=...)")
        Traceback (most recent call last):
        ...
        weirflow.ConfigError: pipeline 'p': add_pipeline(timedelta_seconds=...) must be a number of seconds >= 0 and at most 316224000 (ten years), got nan
    """  # noqa: E501
    if is_finite(value) and (value > 0 if positive else value >= 0) and value <= MAX_SECONDS:
        return float(value)
    lowest = "> 0" if positive else ">= 0"
    wanted = f"a number of seconds {lowest} and at most {MAX_SECONDS} (ten years)"
    raise refuse(where, field, wanted, value)


def check_minutes(value: Any, where: str, field: str) -> float:
    """A number of minutes > 0 (at most ten years), returned in seconds."""
    if is_finite(value) and 0 < value <= MAX_SECONDS / 60:
        return float(value) * 60
    wanted = f"a number of minutes > 0 and at most {MAX_SECONDS // 60} (ten years)"
    raise refuse(where, field, wanted, value)


def check_whole(
    value: Any,
    where: str | Where,
    field: str,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    note: str = "",
) -> int:
    """An ``int`` (not a ``bool``, not a float) from ``minimum`` to ``maximum``.

    Example:
        >>> check_whole(2**70, "pipeline 'p', stage 'p.core_logic'", "workers", minimum=1,
        ...             maximum=1024)
        Traceback (most recent call last):
        ...
        weirflow.ConfigError: pipeline 'p', stage 'p.core_logic': workers must be a whole number from 1 to 1024, got 1180591620717411303424
    """  # noqa: E501
    if is_whole(value) and value >= minimum and (maximum is None or value <= maximum):
        return int(value)
    bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    raise refuse(where, field, f"a whole number {bounds}{note}", value)


def check_flag(value: Any, where: str | Where, field: str) -> bool:
    """``True`` or ``False`` (``"false"``, ``0`` and ``None`` are refused: say what you mean)."""
    if isinstance(value, bool):
        return value
    if isinstance(where, Where):
        raise refuse(where, field, "True or False", value)
    raise ConfigError(
        f"{where}: {field} must be True or False, got {type(value).__name__} {shown(value)}"
    )


def check_name(value: Any, where: str, field: str) -> str:
    """A non-empty ``str`` (a table, column or stream name)."""
    if isinstance(value, str) and value.strip():
        return value
    raise ConfigError(
        f"{where}: {field} must be a non-empty str, got {type(value).__name__} {shown(value)}"
    )


def _fail(error: ErrorType, where: str | None, field: str, wanted: str, value: Any) -> Exception:
    prefix = f"{where}: " if where else ""
    return error(f"{prefix}{field} must be {wanted}, got {value!r}")


def _readable(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def check_positive_number(
    value: Any,
    field: str,
    *,
    where: str | None = None,
    allow_none: bool = False,
    allow_zero: bool = False,
    maximum: float | None = None,
    meaning: str = "",
    error: ErrorType = InvalidArgumentError,
) -> float | None:
    """A finite number > 0 (>= 0 with ``allow_zero``), at most ``maximum``, as a ``float``.

    Args:
        value: what the user gave.
        field: the argument's name, as the user wrote it (``"timeout"``).
        where: the stage, pipeline or flow the argument belongs to, for the message.
        allow_none: accept ``None`` (returned as is).
        allow_zero: accept 0 (for arguments where 0 means "none" or "at once").
        maximum: the largest acceptable value, if any.
        meaning: added to the message in parentheses, e.g. ``"0 = no timeout"``.
        error: the exception class to raise.

    Returns:
        The value as a float, or ``None``.
    """
    if value is None and allow_none:
        return None
    lowest = ">= 0" if allow_zero else "> 0"
    wanted = f"a finite number {lowest}"
    if maximum is not None:
        wanted += f" and at most {_readable(maximum)}"
    if allow_none:
        meaning = ", ".join(part for part in (meaning, "or None") if part)
    if meaning:
        wanted += f" ({meaning})"
    if not is_number(value):
        raise _fail(error, where, field, wanted, value)
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise _fail(error, where, field, wanted, value)
    if maximum is not None and number > maximum:
        raise _fail(error, where, field, wanted, value)
    return number


def check_whole_number(
    value: Any,
    field: str,
    *,
    where: str | None = None,
    minimum: int = 0,
    maximum: int | None = None,
    allow_none: bool = False,
    meaning: str = "",
    error: ErrorType = InvalidArgumentError,
) -> int | None:
    """A whole number (an ``int``, not a bool or a float) between ``minimum`` and ``maximum``.

    Args:
        value: what the user gave.
        field: the argument's name, as the user wrote it (``"workers"``).
        where: the stage, pipeline or flow the argument belongs to, for the message.
        minimum: the smallest acceptable value.
        maximum: the largest acceptable value, if any.
        allow_none: accept ``None`` (returned as is).
        meaning: added to the message in parentheses, e.g. ``"0 = unbounded"``.
        error: the exception class to raise.

    Returns:
        The value as an int, or ``None``.
    """
    if value is None and allow_none:
        return None
    wanted = f"a whole number >= {minimum}"
    if maximum is not None:
        wanted = f"a whole number from {minimum} to {maximum:,}"
    if meaning:
        wanted += f" ({meaning})"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(error, where, field, wanted, value)
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise _fail(error, where, field, wanted, value)
    return number
