"""Seeing a running service: progress lines in a terminal and log lines, text or JSON.

``_progress.py`` draws :func:`progress` for a stage (``for x in weirflow.progress(stage)``) and
:class:`FlowProgress` for ``weirflow run``; ``_logs.py`` holds the log handler and formats
(:class:`JsonFormatter`) and the periodic summary of continuous pipelines
(:class:`SummaryLogger`). They read the engine's counters and the flow's statistics, never
change them.
"""

from __future__ import annotations

from .._logcontext import LogFields as LogFields
from ._logs import JsonFormatter as JsonFormatter
from ._logs import SummaryLogger as SummaryLogger
from ._logs import log_handler as log_handler
from ._progress import FlowProgress as FlowProgress
from ._progress import Progress as Progress
from ._progress import progress as progress

__all__ = [
    "FlowProgress",
    "JsonFormatter",
    "LogFields",
    "Progress",
    "SummaryLogger",
    "log_handler",
    "progress",
]
