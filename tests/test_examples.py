"""Every example and the demo service run, as a user runs them, and do what they say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(tmp_path: Path, script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_service(tmp_path: Path) -> None:
    output = run(tmp_path, "demo_service.py", "3")
    assert "pipeline 'report': every 1s after 1s" in output
    assert "reports: " in output
    numbers = json.loads((tmp_path / "data" / "demo" / "numbers.json").read_text())
    assert numbers
    assert all({"value", "datetime"} <= set(row) for row in numbers)
    assert (tmp_path / "data" / "demo" / "demo.sqlite").exists()


def test_engine_tour(tmp_path: Path) -> None:
    output = run(tmp_path, "engine_tour.py")
    assert "streamed 2000 readings through thread -> task -> sync stages" in output


def test_simple_http(tmp_path: Path) -> None:
    output = run(tmp_path, "simple_http.py", "1")
    assert output.startswith("stored ")
    rows = json.loads((tmp_path / "data" / "simple_http" / "integers.json").read_text())
    assert rows
    assert "Generated random number" in rows[0]


def test_http_with_configuration(tmp_path: Path) -> None:
    run(tmp_path, "http_with_configuration.py", "1.5")
    lines = (tmp_path / "data" / "http_with_configuration" / "rows.jsonl").read_text().splitlines()
    assert len(lines) >= 5  # the first run asks for five rows


@pytest.mark.parametrize("mode", [[], ["--processes"]], ids=["threads", "processes"])
def test_multiple_pipelines(tmp_path: Path, mode: list[str]) -> None:
    output = run(tmp_path, "multiple_pipelines.py", "3", *mode)
    assert output.startswith("sent ")
    assert (tmp_path / "data" / "multiple_pipelines" / "integers.sqlite").exists()


def test_local_storages(tmp_path: Path) -> None:
    output = run(tmp_path, "local_storages.py", "1.5")
    for kind in ("json", "jsonl", "csv", "sql"):
        assert f"letters_{kind}: " in output
    assert ": 0 rows" not in output


def test_weirflow_check_on_the_demo_service(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "weirflow", "check", str(EXAMPLES / "demo_service.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.returncode == 0, result.stderr
    assert "report.send: send 'http_post'" in result.stdout


@pytest.mark.parametrize(
    "example", sorted(path.name for path in EXAMPLES.glob("*.py")), ids=lambda name: name
)
def test_weirflow_check_on_every_example_is_ok_or_a_clear_error(
    tmp_path: Path, example: str
) -> None:
    """Files meant to run as scripts (their flow needs a base URL their __main__ block makes)
    get a message saying so, never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "weirflow", "check", str(EXAMPLES / example)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert result.stderr.startswith(f"weirflow: {EXAMPLES / example}"), result.stderr
