"""Seeing a running service: metrics, health checks, a live status page, the flow's picture,
progress lines in a terminal and log lines, text or JSON.

Layout: ``_server.py`` is the HTTP server (one weirflow thread) with its routes;
``_metrics.py`` the Prometheus collector, ``_health.py`` liveness and readiness,
``_status.py`` the page's JSON, ``_page.html`` the page itself (self-contained: no CDN, nothing
fetched from outside); ``_graph.py`` the graph model with Mermaid, DOT, SVG and PNG;
``_cli_graph.py`` the ``weirflow graph`` command. Everything there reads the flow's statistics
(:meth:`Flow.status() <weirflow.flows.Flow.status>`), built in ``weirflow.flows._statistics``.
``_progress.py`` draws :func:`progress` for a stage (``for x in weirflow.progress(stage)``) and
:class:`FlowProgress` for ``weirflow run``; ``_logs.py`` holds the log handler and formats
(:class:`JsonFormatter`) and the periodic summary of continuous pipelines
(:class:`SummaryLogger`). They read the engine's counters and the flow's statistics, never
change them.

Serve a flow with ``flow.launch_flow(http="127.0.0.1:8000")`` or
``weirflow run service.py --http 127.0.0.1:8000``; draw it with ``weirflow graph service.py``.
"""

from __future__ import annotations

from .._logcontext import LogFields as LogFields
from ._graph import FlowGraph, flow_graph, render, to_dot, to_mermaid
from ._logs import JsonFormatter as JsonFormatter
from ._logs import SummaryLogger as SummaryLogger
from ._logs import log_handler as log_handler
from ._progress import FlowProgress as FlowProgress
from ._progress import Progress as Progress
from ._progress import progress as progress
from ._server import StatusServer, serve

__all__ = [
    "FlowGraph",
    "FlowProgress",
    "JsonFormatter",
    "LogFields",
    "Progress",
    "StatusServer",
    "SummaryLogger",
    "flow_graph",
    "log_handler",
    "progress",
    "render",
    "serve",
    "to_dot",
    "to_mermaid",
]
