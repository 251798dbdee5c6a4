"""``weirflow graph service.py``: the flow's picture as Mermaid (the default), DOT, SVG or PNG.

``-o flow.svg`` or ``-o flow.png`` draws with Graphviz's ``dot`` (the format follows the file's
suffix unless ``--format`` says otherwise); without ``-o`` the text goes to standard output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._graph import FORMATS, flow_graph, render, to_dot, to_mermaid


def add_graph_command(commands: Any) -> None:
    """Add ``graph`` to the command line's subcommands."""
    graph = commands.add_parser("graph", help="draw a service file's flow (Mermaid, DOT, SVG, PNG)")
    graph.add_argument("service", help="path/to/service.py, optionally :name of the flow in it")
    graph.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="mermaid (default), dot, or svg/png (drawn by Graphviz's dot)",
    )
    graph.add_argument(
        "-o", "--output", default=None, help="write to this file (.svg and .png are drawn)"
    )


def _format(arguments: argparse.Namespace) -> str:
    if arguments.format is not None:
        return str(arguments.format)
    suffix = Path(arguments.output).suffix.lower().lstrip(".") if arguments.output else ""
    return {"svg": "svg", "png": "png", "dot": "dot", "gv": "dot"}.get(suffix, "mermaid")


def run_graph(flow: Any, arguments: argparse.Namespace) -> int:
    """Write the graph of ``flow``; return the exit code (2: Graphviz missing, bad format)."""
    graph = flow_graph(flow)
    chosen = _format(arguments)
    try:
        if chosen in ("svg", "png"):
            data = render(graph, "svg" if chosen == "svg" else "png")
        else:
            data = ((to_mermaid(graph) if chosen == "mermaid" else to_dot(graph)) + "\n").encode()
    except ConfigError as error:
        print(f"weirflow: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"weirflow: {error}", file=sys.stderr)
        return 1
    if arguments.output is None:
        if chosen == "png":
            print("weirflow: PNG is binary: give -o flow.png", file=sys.stderr)
            return 2
        sys.stdout.write(data.decode())
        sys.stdout.flush()
        return 0
    Path(arguments.output).write_bytes(data)
    return 0
