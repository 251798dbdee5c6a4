"""``weirflow graph``: the graph of every example service as Mermaid (its structure checked)
and as DOT that Graphviz's ``dot -Tsvg`` parses; SVG and PNG drawn; the same graph as data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from weirflow import FlowBuilder
from weirflow.observe import flow_graph, to_dot, to_mermaid
from weirflow.testing.pytest_plugin import skip_or_fail

from ..example_support import load_example

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SRC = str(ROOT / "src")
SERVICES = sorted(
    path.name
    for path in EXAMPLES.glob("*.py")
    if not path.name.startswith("_") and "def build_flow" in path.read_text()
)
NODE = r"[A-Za-z][A-Za-z0-9_]*"
MERMAID_LINE = re.compile(
    rf"""^(flowchart\ LR
        |\ \ subgraph\ {NODE}\[".+"\]
        |\ \ \ \ direction\ LR
        |\ \ \ \ {NODE}\[".+"\]
        |\ \ end
        |\ \ {NODE}(\[\(".+"\)\]|>".+"\])
        |\ \ {NODE}\ (-->|-\.->)\ {NODE}
        |\ \ {NODE}\ --\ ".+"\ -->\ {NODE}
        |\ \ {NODE}\ -\.\ ".+"\ \.->\ {NODE}
    )$""",
    re.VERBOSE,
)


def example_flow(name: str) -> Any:
    return load_example(name).build_flow("http://127.0.0.1:9")  # built, never run


def check_mermaid(text: str) -> None:
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    bad = [line for line in lines if not MERMAID_LINE.match(line)]
    assert bad == []
    assert sum(line.startswith("  subgraph ") for line in lines) == sum(
        line == "  end" for line in lines
    )
    declared = set(re.findall(rf"^ +({NODE})[\[>]", text, re.MULTILINE))
    used = set(re.findall(rf"^  ({NODE}) [-.]", text, re.MULTILINE)) | set(
        re.findall(rf"[->] ({NODE})$", text, re.MULTILINE)
    )
    assert used <= declared, used - declared


def dot_program() -> str:
    dot = shutil.which("dot")
    if dot is None:
        skip_or_fail("Graphviz's dot is not installed (apt-get install -y graphviz)")
    return dot


def test_there_are_example_services() -> None:
    assert len(SERVICES) >= 6


@pytest.mark.parametrize("name", SERVICES)
def test_every_example_service_has_a_valid_graph(name: str) -> None:
    flow = example_flow(name)
    graph = flow_graph(flow)
    assert [p.name for p in graph.pipelines] == [p.name for p in flow.pipelines]
    for drawn, pipeline in zip(graph.pipelines, flow.pipelines):
        assert [s.label for s in drawn.stages] == [s.label for s in pipeline.stages]
    check_mermaid(to_mermaid(graph))
    result = subprocess.run(
        [dot_program(), "-Tsvg"], input=to_dot(graph), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "<svg" in result.stdout
    for pipeline in flow.pipelines:
        assert pipeline.name in result.stdout


def test_storages_read_through_db_connectors_are_dashed_edges() -> None:
    graph = flow_graph(example_flow("multiple_pipelines.py"))
    nodes = {node.id: node.label for node in graph.nodes}
    dashed = {(nodes[e.source].split()[0], e.target) for e in graph.edges if e.style == "dashed"}
    assert dashed == {("integers", "p2_s0"), ("letters", "p2_s0")}
    assert 'd0 -. "reads" .-> p2_s0' in to_mermaid(graph)
    assert "style=dashed" in to_dot(graph)


def test_streams_join_pipelines() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("numbers", timedelta_seconds=1).with_core_logic(lambda: 1).send(
        "stream", name="n"
    )
    builder.add_pipeline("doubled").with_stream_connector("n").with_core_logic(lambda x: 2 * x)
    graph = flow_graph(builder.build())
    streams = [(e.source, e.target, e.label) for e in graph.edges if e.label.startswith("stream")]
    assert streams == [("p0_s1", "p1_s0", "stream n")]
    assert [n for n in graph.nodes if n.kind == "stream"] == []  # both ends are in the flow
    check_mermaid(to_mermaid(graph))
    assert graph.as_dict()["pipelines"][1]["schedule"] == "continuous"


def weirflow(*args: str, cwd: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "weirflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_the_command_writes_mermaid_dot_svg_and_png(tmp_path: Path) -> None:
    dot_program()
    service = str(EXAMPLES / "demo_service.py")
    mermaid = weirflow("graph", service, cwd=tmp_path)
    assert mermaid.returncode == 0, mermaid.stderr
    check_mermaid(mermaid.stdout.rstrip("\n"))
    dot = weirflow("graph", service, "--format", "dot", cwd=tmp_path)
    assert dot.stdout.startswith("digraph weirflow {")
    assert weirflow("graph", service, "-o", "flow.svg", cwd=tmp_path).returncode == 0
    assert "<svg" in (tmp_path / "flow.svg").read_text()
    assert weirflow("graph", service, "-o", "flow.png", cwd=tmp_path).returncode == 0
    assert (tmp_path / "flow.png").read_bytes().startswith(b"\x89PNG")


def test_a_missing_graphviz_is_a_clear_message(tmp_path: Path) -> None:
    python_only = tmp_path / "bin"
    python_only.mkdir()  # a PATH without dot
    result = weirflow(
        "graph",
        str(EXAMPLES / "demo_service.py"),
        "-o",
        "flow.svg",
        cwd=tmp_path,
        path=str(python_only),
    )
    assert result.returncode == 2
    assert "needs Graphviz's 'dot' program" in result.stderr
    assert "apt-get install graphviz" in result.stderr
    assert not (tmp_path / "flow.svg").exists()
