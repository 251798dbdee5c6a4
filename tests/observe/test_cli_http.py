"""``weirflow run service.py --http HOST:PORT`` in a subprocess, as a user runs it: the server
answers, and SIGTERM still stops the flow cleanly (exit code 0, the summary printed, the port
closed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from .serving import wait_for

SRC = str(Path(__file__).resolve().parents[2] / "src")

SERVICE = """
from weirflow import FlowBuilder

builder = FlowBuilder()
builder.add_pipeline("ticks", timedelta_seconds=0.1).with_core_logic(lambda: 1).with_storage(
    "jsonl", path="ticks.jsonl"
)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reachable(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_sigterm_stops_a_flow_with_its_server_on(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(textwrap.dedent(SERVICE))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "weirflow", "run", "service.py", "--http", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: reachable(f"{url}/healthz"), what="the server")
        wait_for(
            lambda: '"runs": 0' not in httpx.get(f"{url}/api/status", timeout=5).text,
            what="a run",
        )
        assert "weirflow_items_total" in httpx.get(f"{url}/metrics", timeout=5).text
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"status page at http://127.0.0.1:{port}/" in stderr
    assert "received SIGTERM" in stderr
    assert "ticks: " in stdout
    assert not reachable(f"{url}/healthz")


def test_a_bad_address_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(textwrap.dedent(SERVICE))
    result = subprocess.run(
        [sys.executable, "-m", "weirflow", "run", "service.py", "--http", "nowhere"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.returncode == 2
    assert "http must be 'host:port'" in result.stderr
