"""Seeing a running flow: metrics, health checks, a live status page and the flow's picture.

Layout: ``_server.py`` is the HTTP server (one weirflow thread) with its routes;
``_metrics.py`` the Prometheus collector, ``_health.py`` liveness and readiness,
``_status.py`` the page's JSON, ``_page.html`` the page itself (self-contained: no CDN, nothing
fetched from outside); ``_graph.py`` the graph model with Mermaid, DOT, SVG and PNG;
``_cli_graph.py`` the ``weirflow graph`` command. Everything reads the flow's statistics
(:meth:`Flow.status() <weirflow.flows.Flow.status>`), built in ``weirflow.flows._statistics``.

Serve a flow with ``flow.launch_flow(http="127.0.0.1:8000")`` or
``weirflow run service.py --http 127.0.0.1:8000``; draw it with ``weirflow graph service.py``.
"""

from ._graph import FlowGraph, flow_graph, render, to_dot, to_mermaid
from ._server import StatusServer, serve

__all__ = ["FlowGraph", "StatusServer", "flow_graph", "render", "serve", "to_dot", "to_mermaid"]
