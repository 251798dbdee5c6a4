"""Helpers of the Redis tests: a private redis-server, the shared service file, waiting."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weirflow.testing import free_port
from weirflow.testing._servers import wait_for_port

HERE = Path(__file__).resolve().parent
SERVICE = HERE / "services" / "jobs_service.py"
sys.path.insert(0, str(HERE.parent / "flows"))

from cli_support import SRC, summary_items, weirflow  # noqa: E402

__all__ = ["SERVICE", "SRC", "PrivateRedis", "eventually", "finish", "summary_items", "weirflow"]


class PrivateRedis:
    """A ``redis-server`` of one test on a free port, with AOF persistence (fsync always)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [
                command,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", self.port, 10)
        self.wait_loaded()

    def wait_loaded(self) -> None:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=2)
        try:
            eventually(lambda: _loaded(client), 10)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, only what the AOF had (every write, with fsync always)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _loaded(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def eventually(condition: Callable[[], Any], seconds: float = 30.0, what: str = "") -> Any:
    """Poll ``condition`` (bounded) until it is true; return its value."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {seconds}s: {what or condition}")
        time.sleep(0.05)


def finish(process: subprocess.Popen[str], seconds: float = 90.0) -> tuple[int, str, str]:
    """Wait for a ``weirflow`` process; kill its group if it overruns (and fail)."""
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(
            f"still running after {seconds}s\nstdout:\n{out}\nstderr:\n{err}"
        ) from None
    return process.returncode, out, err
