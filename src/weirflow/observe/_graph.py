"""The picture of a flow: a graph model, and Mermaid, DOT, SVG and PNG made from it.

:func:`flow_graph` reads a built flow: one box per pipeline with its stages in order, one node
per storage (a solid edge from the pipeline that writes it), a labelled edge per stream from
each pipeline that sends to it to each pipeline that reads it (a stream node when one end is
missing), and dashed edges from a storage to each pipeline whose functions read it through
``db_connectors`` (found by the pipeline names the function's code mentions, nested
functions included). :func:`to_mermaid` and :func:`to_dot` write it as text;
:func:`render` runs Graphviz's ``dot`` for SVG or PNG. :meth:`FlowGraph.as_dict` is the JSON
the status page draws.

Example:
    >>> from weirflow import FlowBuilder
    >>> builder = FlowBuilder()
    >>> _ = builder.add_pipeline("numbers", timedelta_seconds=1).with_core_logic(
    ...     lambda: [1, 2]).send("stream", name="n")
    >>> _ = builder.add_pipeline("doubled").with_stream_connector("n").with_core_logic(
    ...     lambda x: 2 * x)
    >>> print(to_mermaid(flow_graph(builder.build())))  # doctest: +ELLIPSIS
    flowchart LR
      subgraph p0["numbers (every 1s)"]
    ...
      p0_s1 -- "stream n" --> p1_s0
"""

from __future__ import annotations

import shutil
import subprocess
import types
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .._errors import ConfigError
from ..flows._pipeline import Pipeline
from ..flows._stages import StageDef
from ..flows._streams import StreamSender, StreamSource

Format = Literal["mermaid", "dot", "svg", "png"]
FORMATS: tuple[Format, ...] = ("mermaid", "dot", "svg", "png")


@dataclass(frozen=True)
class GraphStage:
    """A stage in its pipeline's box."""

    id: str
    label: str
    role: str
    kind: str
    workers: int


@dataclass(frozen=True)
class GraphPipeline:
    """A pipeline: its box and stages in order."""

    id: str
    name: str
    schedule: str
    stages: tuple[GraphStage, ...]


@dataclass(frozen=True)
class GraphNode:
    """A storage or a stream with a missing end."""

    id: str
    label: str
    kind: Literal["storage", "stream"]


@dataclass(frozen=True)
class GraphEdge:
    """``style``: ``solid`` (items flow) or ``dashed`` (read through ``db_connectors``)."""

    source: str
    target: str
    label: str
    style: Literal["solid", "dashed"]


@dataclass(frozen=True)
class FlowGraph:
    """Pipelines (boxes of stages), storage and stream nodes, and the edges between them."""

    pipelines: tuple[GraphPipeline, ...]
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    def as_dict(self) -> dict[str, Any]:
        """The graph as JSON-ready data (what ``/api/status`` serves under ``graph``)."""
        return asdict(self)


def _stream_name(lazy: Any, factory: type) -> str | None:
    if lazy is None or lazy.factory is not factory:
        return None
    return str(lazy.options.get("name"))


def _storage_label(pipeline: Pipeline, stage: StageDef) -> str:
    assert stage.storage is not None
    options = stage.storage.options
    kind = getattr(stage.storage.factory, "name", None) or type(options.get("instance")).__name__
    where = options.get("table") or options.get("path")
    return f"{pipeline.name} storage ({kind}{f': {where}' if isinstance(where, str) else ''})"


def _strings(code: types.CodeType) -> Iterator[str]:
    """Every string constant of ``code`` and of the functions defined inside it."""
    for constant in code.co_consts:
        if isinstance(constant, str):
            yield constant
        elif isinstance(constant, types.CodeType):
            yield from _strings(constant)


def _reads(function: Any, storages: set[str]) -> set[str]:
    """The pipelines whose storage ``function`` reads through ``db_connectors``."""
    code = getattr(getattr(function, "__wrapped__", function), "__code__", None)
    if code is None:
        return set()
    if "db_connectors" not in code.co_varnames and "db_connectors" not in set(_strings(code)):
        return set()
    return storages & set(_strings(code))


def flow_graph(flow: Any) -> FlowGraph:
    """The graph of ``flow`` (a built :class:`~weirflow.Flow`)."""
    pipelines: list[GraphPipeline] = []
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    writers: dict[str, list[str]] = {}
    readers: dict[str, list[str]] = {}
    storage_ids: dict[str, str] = {}
    for p, pipeline in enumerate(flow.pipelines):
        stages = []
        for s, stage in enumerate(pipeline.stages):
            stage_id = f"p{p}_s{s}"
            stages.append(GraphStage(stage_id, stage.label, stage.role, stage.kind, stage.workers))
            if s:
                edges.append(GraphEdge(f"p{p}_s{s - 1}", stage_id, "", "solid"))
            sent = _stream_name(stage.sender, StreamSender)
            if sent is not None:
                writers.setdefault(sent, []).append(stage_id)
            read = _stream_name(stage.source, StreamSource)
            if read is not None:
                readers.setdefault(read, []).append(stage_id)
            if stage.storage is not None:
                storage_id = f"d{p}"
                storage_ids[pipeline.name] = storage_id
                nodes.append(GraphNode(storage_id, _storage_label(pipeline, stage), "storage"))
                edges.append(GraphEdge(stage_id, storage_id, "", "solid"))
        schedule = "continuous" if pipeline.continuous else pipeline.schedule.describe()
        pipelines.append(GraphPipeline(f"p{p}", pipeline.name, schedule, tuple(stages)))
    for p, pipeline in enumerate(flow.pipelines):  # storages are known now
        for s, stage in enumerate(pipeline.stages):
            if stage.function is not None:
                for name in sorted(_reads(stage.function, set(storage_ids) - {pipeline.name})):
                    edges.append(GraphEdge(storage_ids[name], f"p{p}_s{s}", "reads", "dashed"))
    for n, stream in enumerate(sorted({*writers, *readers})):
        senders, receivers = writers.get(stream, []), readers.get(stream, [])
        if senders and receivers:
            for sender in senders:
                for receiver in receivers:
                    edges.append(GraphEdge(sender, receiver, f"stream {stream}", "solid"))
            continue
        stream_id = f"q{n}"
        nodes.append(GraphNode(stream_id, f"stream {stream}", "stream"))
        edges.extend(GraphEdge(sender, stream_id, "", "solid") for sender in senders)
        edges.extend(GraphEdge(stream_id, receiver, "", "solid") for receiver in receivers)
    return FlowGraph(tuple(pipelines), tuple(nodes), tuple(edges))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', "#quot;") + '"'


def _stage_text(stage: GraphStage) -> str:
    workers = f" x{stage.workers}" if stage.workers > 1 else ""
    return f"{stage.label} [{stage.kind}{workers}]"


def to_mermaid(graph: FlowGraph) -> str:
    """The graph as a Mermaid ``flowchart`` (renders in GitHub and most Markdown viewers)."""
    lines = ["flowchart LR"]
    for pipeline in graph.pipelines:
        lines.append(
            f"  subgraph {pipeline.id}[{_quoted(f'{pipeline.name} ({pipeline.schedule})')}]"
        )
        lines.append("    direction LR")
        lines.extend(f"    {s.id}[{_quoted(_stage_text(s))}]" for s in pipeline.stages)
        lines.append("  end")
    for node in graph.nodes:
        shape = (
            f"[({_quoted(node.label)})]" if node.kind == "storage" else f">{_quoted(node.label)}]"
        )
        lines.append(f"  {node.id}{shape}")
    for edge in graph.edges:
        arrow = "-.->" if edge.style == "dashed" else "-->"
        if edge.label and edge.style == "dashed":
            lines.append(f"  {edge.source} -. {_quoted(edge.label)} .-> {edge.target}")
        elif edge.label:
            lines.append(f"  {edge.source} -- {_quoted(edge.label)} --> {edge.target}")
        else:
            lines.append(f"  {edge.source} {arrow} {edge.target}")
    return "\n".join(lines)


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: FlowGraph) -> str:
    """The graph in Graphviz's DOT language (``dot -Tsvg`` draws it)."""
    lines = [
        "digraph weirflow {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica"];',
    ]
    for pipeline in graph.pipelines:
        lines.append(f"  subgraph cluster_{pipeline.id} {{")
        lines.append(f"    label={_dot_text(f'{pipeline.name} ({pipeline.schedule})')};")
        lines.extend(f"    {s.id} [label={_dot_text(_stage_text(s))}];" for s in pipeline.stages)
        lines.append("  }")
    for node in graph.nodes:
        shape = "cylinder" if node.kind == "storage" else "cds"
        lines.append(f"  {node.id} [label={_dot_text(node.label)}, shape={shape}];")
    for edge in graph.edges:
        attributes = []
        if edge.label:
            attributes.append(f"label={_dot_text(edge.label)}")
        if edge.style == "dashed":
            attributes.append("style=dashed")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {edge.source} -> {edge.target}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: FlowGraph, image_format: Literal["svg", "png"], timeout: float = 60) -> bytes:
    """The graph drawn by Graphviz's ``dot`` as SVG or PNG bytes.

    Raises:
        ConfigError: Graphviz's ``dot`` is not on the ``PATH`` (the message says how to
            install it; Mermaid and DOT text need nothing).
        RuntimeError: ``dot`` failed (its message says why).
    """
    dot = shutil.which("dot")
    if dot is None:
        raise ConfigError(
            f"drawing {image_format.upper()} needs Graphviz's 'dot' program, which is not on "
            "the PATH; install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
            "install graphviz), or use --format mermaid or --format dot"
        )
    result = subprocess.run(
        [dot, f"-T{image_format}"],
        input=to_dot(graph).encode(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"Graphviz's dot failed: {message}")
    return result.stdout
