"""Which pipeline and stage a log record comes from: a context variable and a logging filter.

Each worker of a stage (a thread, an asyncio task, a worker process, a sync stage stepped in its
own context) sets :func:`set_log_context` once when it starts, and a pipeline's runner does so
for its thread. :class:`LogFields` (a filter for handlers) then gives every record made there the
attributes ``pipeline`` and ``stage``, unless the record has them already (``extra=`` wins, and a
record forwarded from a child process keeps the fields it got there). A worker process's
forwarding handler has the filter too, so the fields cross the process boundary with the record.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token

_where: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "weirflow_log_context", default=(None, None)
)


def set_log_context(
    pipeline: str | None, stage: str | None
) -> Token[tuple[str | None, str | None]]:
    """Say that records made from now on in this context come from ``pipeline`` and ``stage``;
    the token undoes it (:func:`reset_log_context`).

    Example:
        >>> token = set_log_context("weather", None)
        >>> log_context()
        ('weather', None)
        >>> reset_log_context(token)
    """
    return _where.set((pipeline, stage))


def reset_log_context(token: Token[tuple[str | None, str | None]]) -> None:
    """Back to what the context said before :func:`set_log_context` gave ``token``."""
    _where.reset(token)


def log_context() -> tuple[str | None, str | None]:
    """The ``(pipeline, stage)`` of the current context (``(None, None)`` outside any).

    Example:
        >>> log_context()
        (None, None)
    """
    return _where.get()


class LogFields(logging.Filter):
    """Adds ``record.pipeline`` and ``record.stage`` (``None`` when not known); lets all pass.

    Add it to a handler, as ``weirflow run`` does, so JSON lines or a format string with
    ``%(pipeline)s`` can name where each record came from.

    Example:
        >>> import contextvars
        >>> worker = contextvars.Context()  # as a stage's worker has its own
        >>> _ = worker.run(set_log_context, "weather", "weather.parse")
        >>> record = logging.makeLogRecord({"msg": "hello"})
        >>> worker.run(LogFields().filter, record), record.pipeline, record.stage
        (True, 'weather', 'weather.parse')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        if "pipeline" not in fields or "stage" not in fields:
            pipeline, stage = _where.get()
            fields.setdefault("pipeline", pipeline)
            fields.setdefault("stage", stage)
        return True
