"""Log records of child processes, handled by the parent's handlers.

A child process (a pipeline process of a ``use_threads=False`` flow, or a stage's worker
process) sends each log record to its parent over the pipe it already has
(:class:`ForwardingHandler`, on the process's root logger, the only handler there); the parent
hands it to the logger of the same name (:func:`handle_forwarded`), so its handlers, formats,
filters and levels apply as for a record of its own; the pipeline and stage it came from travel
with it (``record.pipeline``, ``record.stage``). The child's loggers get the parent's levels
when it starts (:func:`logging_levels`, :func:`forward_logging`), so a record the parent would
drop is not even made, and ``DEBUG`` records reach the parent when it wants them.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from typing import Any

from ._logcontext import LogFields
from ._redact import RedactingFilter

_PLAIN = (str, int, float, bool, type(None))


def logging_levels() -> dict[str, int]:
    """The levels set on this process's loggers (``""`` is the root logger)."""
    levels = {"": logging.getLogger().level}
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


class ForwardingHandler(logging.Handler):
    """Sends each record, made picklable, through ``send("log", fields)``.

    Before it goes, a record gets its ``pipeline`` and ``stage`` (:class:`LogFields`, from the
    child's context: the parent would not know them) and its credentials masked
    (:class:`RedactingFilter`, with the secrets of the request in progress on the child's thread).
    """

    def __init__(self, send: Callable[[str, Any], None]) -> None:
        super().__init__()
        self._send = send
        self.addFilter(LogFields())
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send("log", portable(record))
        except Exception:
            self.handleError(record)


def portable(record: logging.LogRecord) -> dict[str, Any]:
    """A record's fields, its message formatted and its traceback as text, all picklable."""
    fields = dict(record.__dict__)
    fields["msg"] = record.getMessage()
    fields["args"] = None
    if record.exc_info and not record.exc_text:
        fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
    fields["exc_info"] = None
    for key, value in fields.items():
        if not isinstance(value, _PLAIN):
            try:
                pickle.dumps(value)
            except Exception:
                fields[key] = repr(value)
    return fields


def forward_logging(send: Callable[[str, Any], None], levels: dict[str, int]) -> None:
    """In a child process: every record goes to the parent, at the parent's levels."""
    root = logging.getLogger()
    for logger in [root, *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            for handler in list(logger.handlers):  # inherited under fork: the parent prints
                logger.removeHandler(handler)
    root.addHandler(ForwardingHandler(send))
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)


def handle_forwarded(fields: dict[str, Any]) -> None:
    """In the parent: handle a child process's record as if it were made here."""
    record = logging.makeLogRecord(fields)
    logger = logging.getLogger(record.name if record.name != "root" else None)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)
