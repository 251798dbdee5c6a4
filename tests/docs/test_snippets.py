"""Every snippet the documentation shows runs, and every example's graph matches its flow.

Each ``docs/snippets/*.py`` is a script that checks what it shows with ``assert`` and exits 0; it
runs here in a fresh folder, as a reader would run it, with the real servers it talks to (skipped
on a laptop without them, failed in CI). The Mermaid graphs (``docs/snippets/graphs/<example>.mmd``)
are drawn by hand: each must show every pipeline of its example and that pipeline's stages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from weirflow.testing.pytest_plugin import require_server, skip_or_fail

from ..example_support import load_example

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"
EXAMPLES = ROOT / "examples"
SRC = str(ROOT / "src")

SERVERS = {
    "at_least_once.py": [("Mosquitto", "127.0.0.1", 1883)],
}
"""The real servers a snippet talks to."""

PROGRAMS = {
    "tls.py": ["openssl"],
}
"""The programs a snippet runs (it makes its certificates with ``openssl``)."""

COMMANDS = {
    "first_service.py": ["-m", "weirflow", "run", "{file}", "--execution-seconds", "2.5"],
}
"""How a snippet is run when not ``python snippet.py``."""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": SRC},
    )


@pytest.mark.parametrize("snippet", sorted(SNIPPETS.glob("*.py")), ids=lambda path: path.name)
def test_snippet_runs(snippet: Path, tmp_path: Path) -> None:
    for server in SERVERS.get(snippet.name, []):
        require_server(*server)
    for program in PROGRAMS.get(snippet.name, []):
        if shutil.which(program) is None:
            skip_or_fail(f"{snippet.name} needs the {program} program")
    command = COMMANDS.get(snippet.name, ["{file}"])
    result = run(tmp_path, *(part.format(file=snippet) for part in command))
    assert result.returncode == 0, result.stderr


def test_the_first_service_does_what_getting_started_says(tmp_path: Path) -> None:
    checked = run(tmp_path, "-m", "weirflow", "check", str(SNIPPETS / "first_service.py"))
    assert checked.returncode == 0, checked.stderr
    page = (ROOT / "docs" / "getting-started.md").read_text()
    shown = page.split("```text\nflow with ", 1)[1].split("```", 1)[0]
    assert checked.stdout == f"flow with {shown}", "getting-started.md shows another check output"
    ran = run(
        tmp_path, "-m", "weirflow", "run", str(SNIPPETS / "first_service.py"),
        "--execution-seconds", "2.5",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    lines = (tmp_path / "data" / "first" / "readings.jsonl").read_text().splitlines()
    assert lines
    assert {"celsius", "datetime"} <= set(json.loads(lines[0]))
    assert "{'readings': " in ran.stdout  # the report, printed by send(print)
    assert "readings: " in ran.stdout
    assert " run(s), " in ran.stdout


def _on_a_terminal(tmp_path: Path, snippet: Path) -> tuple[int, str]:
    """Run ``snippet`` with stderr on a pseudo-terminal of 120 x 40: its exit code and what it
    drew there (read until the program closes its end)."""
    pty = pytest.importorskip("pty", reason="no pseudo-terminals on this system")
    import fcntl
    import select
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        process = subprocess.Popen(
            [sys.executable, str(snippet)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
            env={**os.environ, "PYTHONPATH": SRC},
        )
    finally:
        os.close(terminal)
    drawn = b""
    try:
        while select.select([controller], [], [], 60)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the program ended: its side of the terminal is closed
                break
            if not chunk:
                break
            drawn += chunk
        return process.wait(timeout=60), drawn.decode(errors="replace")
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()


def test_progress_draws_what_the_guide_shows(tmp_path: Path) -> None:
    snippet = SNIPPETS / "progress.py"
    piped = run(tmp_path, str(snippet))
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""  # stderr is not a terminal: nothing at all is written
    code, drawn = _on_a_terminal(tmp_path, snippet)
    assert code == 0, drawn
    # the lines as last drawn: each redraw starts with a carriage return (and moves up with ESC [A)
    final = [line.strip() for line in drawn.replace("\x1b[A", "\n").split("\r") if line.strip()]
    page = (ROOT / "docs" / "guides" / "logs-and-progress.md").read_text()
    for name, count, queue in (
        ("thread.map(fetch)", 2000, ", queue 0/32]"),
        ("process.map(parse)", 2000, ", queue 0/16]"),
        ("process.map(parse) (output)", 2000, " items/s]"),
    ):
        assert f"\n{name.ljust(27)}: " in page, f"the guide shows no line for {name}"
        assert any(
            line.startswith(f"{name.ljust(27)}: {count} items [") and line.endswith(queue)
            for line in final
        ), (name, final[-3:])


GRAPHS = sorted((SNIPPETS / "graphs").glob("*.mmd"))


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda path: path.stem)
def test_each_graph_draws_its_example(graph: Path) -> None:
    example = EXAMPLES / f"{graph.stem}.py"
    assert example.is_file(), f"{graph.name}: no examples/{graph.stem}.py"
    text = graph.read_text()
    assert text.startswith("flowchart LR\n")
    module = load_example(example.name)
    if not hasattr(module, "build_flow"):  # the functional API: the stages' functions
        calls = re.findall(r"wf\.(\w+)\.(map|filter|flat_map|each)\((\w+)", example.read_text())
        assert calls, f"{example.name}: no stage found"
        for kind, operator, function in calls:
            stage = f"{kind}.{operator}({function})"
            assert stage in text, f"{graph.name} does not show {stage}"
        return
    flow = module.build_flow("http://127.0.0.1:9")  # built, never launched: nothing connects
    try:
        subgraphs = dict(re.findall(r"subgraph (\w+)\[.*?\]\n(.*?)\n\s*end\n", text, re.S))
        assert list(subgraphs) == [pipeline.name for pipeline in flow.pipelines]
        for pipeline in flow.pipelines:
            body = subgraphs[pipeline.name]
            nodes = [f"{pipeline.name}_{stage.label}" for stage in pipeline.stages]
            positions = [body.find(f'{node}["') + body.find(f'{node}[("') + 1 for node in nodes]
            assert all(position >= 0 for position in positions), (pipeline.name, nodes, body)
            assert positions == sorted(positions), f"{pipeline.name}: stages out of order"
    finally:
        flow.close_resources()
