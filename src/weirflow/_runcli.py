"""``weirflow run``'s options for what a person sees: the log format, summaries, progress lines.

:func:`add_arguments` adds ``--log-format text|json`` and ``--summary-seconds``;
:func:`install_logging` puts the handler on the ``weirflow`` logger; :func:`observing` attaches
to a flow for its launch the periodic summary of its continuous pipelines and, when stderr is
a terminal and every pipeline ends by itself (none is continuous), a progress line per
pipeline, with log lines written above them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
from collections.abc import Iterator
from typing import Any

from .observe._logs import LOG_FORMATS, SUMMARY_SECONDS, LogFormat, log_handler
from .observe._progress import FlowProgress, terminal


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def add_arguments(run: argparse.ArgumentParser) -> None:
    """The options of ``weirflow run`` this module serves."""
    run.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text lines, or one JSON object per line with pipeline and stage fields (text)",
    )
    run.add_argument(
        "--summary-seconds",
        type=_interval,
        default=SUMMARY_SECONDS,
        help=f"seconds between summary lines of continuous pipelines ({SUMMARY_SECONDS:g})",
    )


def install_logging(level: str, log_format: LogFormat = "text") -> logging.Handler:
    """Log on stderr in ``log_format``: weirflow's records at ``level``, every other logger's
    at WARNING and above (or ``level`` if higher), all through one handler on the root logger,
    so a JSON log has only JSON lines (no record falls to Python's plain last-resort output).
    :func:`uninstall_logging` undoes it."""
    handler = log_handler(log_format)
    root = logging.getLogger()
    handler.saved_root_level = root.level  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("weirflow").setLevel(level)
    return handler


def uninstall_logging(handler: logging.Handler) -> None:
    """Take the handler of :func:`install_logging` away again."""
    root = logging.getLogger()
    root.removeHandler(handler)
    root.setLevel(getattr(handler, "saved_root_level", logging.WARNING))


@contextlib.contextmanager
def observing(flow: Any, arguments: argparse.Namespace, handler: logging.Handler) -> Iterator[None]:
    """Summaries and progress lines for one launch of ``flow`` (see the module's docstring)."""
    from .observe._logs import SummaryLogger

    added: list[Any] = []
    if any(pipeline.continuous for pipeline in flow.pipelines):
        added.append(SummaryLogger(flow, arguments.summary_seconds))
    stream = terminal()
    shown = None
    if stream is not None and flow.pipelines and not any(p.continuous for p in flow.pipelines):
        shown = FlowProgress(flow, stream)
        added.append(shown)
        if hasattr(handler, "around"):
            handler.around = shown.writing
    flow.observers.extend(added)
    try:
        yield
    finally:
        for observer in added:
            flow.observers.remove(observer)
        if shown is not None:
            shown.close()
            if hasattr(handler, "around"):
                handler.around = contextlib.nullcontext
