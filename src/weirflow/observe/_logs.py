"""Log lines of a running service: text or JSON, with pipeline and stage, and summaries.

:func:`log_handler` makes the handler ``weirflow run`` logs through: text
(``time LEVEL logger: message``) or JSON (:class:`JsonFormatter`: one object per line with
``time``, ``level``, ``logger``, ``message``, ``pipeline``, ``stage`` and the record's own
fields), with :class:`~weirflow._logcontext.LogFields` (the pipeline and stage a record comes
from) and :class:`~weirflow._redact.RedactingFilter` (no credential reaches a line). Records of
pipeline and worker processes reach it through their parent (``_logforward.py``) with their
fields, so they come out in the same format. :class:`SummaryLogger` logs a line per continuous
pipeline every so often (a continuous pipeline has no runs to report).
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Literal

from .._logcontext import LogFields
from .._redact import RedactingFilter

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..flows import Flow

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SUMMARY_SECONDS = 60.0

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_PLAIN = (str, int, float, bool, type(None))

logger = logging.getLogger("weirflow")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    Keys: ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``message``,
    ``pipeline`` and ``stage`` (``null`` when not known), then the record's own fields given
    with ``extra=`` (plain values only: strings, numbers, booleans; names starting with ``_``
    are a library's and left out) and ``exception`` (the formatted traceback) when there is one.

    Example:
        >>> record = logging.makeLogRecord(
        ...     {"name": "weirflow", "levelname": "INFO", "msg": "run %s", "args": ("finished",),
        ...      "created": 0.0, "pipeline": "weather", "items": 3}
        ... )
        >>> print(JsonFormatter().format(record))  # doctest: +NORMALIZE_WHITESPACE
        {"time": "1970-01-01T00:00:00.000Z", "level": "INFO", "logger": "weirflow",
         "message": "run finished", "pipeline": "weather", "stage": null, "items": 3}
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
        fields: dict[str, Any] = {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pipeline": getattr(record, "pipeline", None),
            "stage": getattr(record, "stage", None),
        }
        for key, value in record.__dict__.items():
            if (
                key not in _STANDARD
                and key not in fields
                and not key.startswith("_")  # a library's own (Ray stamps every record)
                and isinstance(value, _PLAIN)
            ):
                fields[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            fields["exception"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        return json.dumps(fields, ensure_ascii=False, default=repr)


class _AroundHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that can write its lines above live progress lines."""

    def __init__(self) -> None:
        super().__init__()
        self.around: Callable[[], AbstractContextManager[Any]] = nullcontext

    def emit(self, record: logging.LogRecord) -> None:
        with self.around():
            super().emit(record)


def log_handler(log_format: LogFormat = "text") -> _AroundHandler:
    """A stderr handler in ``log_format`` with the pipeline/stage fields and redaction.

    Example:
        >>> handler = log_handler("json")
        >>> type(handler.formatter).__name__
        'JsonFormatter'
    """
    handler = _AroundHandler()
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(LogFields())
    handler.addFilter(RedactingFilter())
    return handler


class SummaryLogger:
    """Every ``every`` seconds, one INFO line per continuous pipeline of ``flow``.

    The line: items that passed so far, how many in the last interval and their rate, failed
    items and restarts; the same as record fields (``items``, ``items_in_interval``,
    ``rate_per_second``, ``failed_items``, ``restarts``) for JSON logs.
    """

    def __init__(self, flow: Flow, every: float = SUMMARY_SECONDS) -> None:
        self.every = every
        self._flow = flow
        self._names = [p.name for p in flow.pipelines if p.continuous]
        self._last: dict[str, int] = {}
        self._since = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        elapsed, self._since = max(now - self._since, 1e-9), now
        statistics = self._flow.statistics()
        for name in self._names:
            counters = statistics.get(name)
            if counters is None:
                continue
            items = int(counters["items"])
            new = items - self._last.get(name, 0)
            self._last[name] = items
            logger.info(
                "pipeline %r: %d item(s) so far, %d in the last %.0fs (%.1f/s), "
                "%d failed item(s), %d restart(s)",
                name,
                items,
                new,
                elapsed,
                new / elapsed,
                counters["failed_items"],
                counters["restarts"],
                extra={
                    "pipeline": name,
                    "stage": None,
                    "items": items,
                    "items_in_interval": new,
                    "rate_per_second": round(new / elapsed, 3),
                    "failed_items": counters["failed_items"],
                    "restarts": counters["restarts"],
                },
            )

    def __repr__(self) -> str:
        return f"<summary of {', '.join(self._names)} every {self.every:g}s>"
