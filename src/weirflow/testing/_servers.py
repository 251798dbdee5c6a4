"""Real servers for tests: is one reachable, a free port, a private Mosquitto broker.

Nothing here imports pytest, so these helpers work under any test runner. :class:`Mosquitto`
starts a private ``mosquitto`` on a port of its own (for tests that stop a broker, need their
own settings, or run where no shared broker is); the ``mqtt_broker`` pytest fixture of
:mod:`weirflow.testing.pytest_plugin` is built on it.

Example:
    >>> reachable("127.0.0.1", 1, timeout=0.2)
    False
    >>> 0 < free_port() < 65536
    True
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["Mosquitto", "free_port", "mosquitto_command", "reachable", "wait_for_port"]

HOST = "127.0.0.1"


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the system picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def wait_for_port(host: str, port: int, seconds: float = 5.0) -> None:
    """Wait (bounded) until something accepts connections at ``host:port``.

    Raises:
        TimeoutError: nothing did within ``seconds``.
    """
    deadline = time.monotonic() + seconds
    while not reachable(host, port, timeout=0.2):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {seconds}s")
        time.sleep(0.02)  # a port that opens announces nothing: poll it, briefly


def mosquitto_command() -> str | None:
    """The path of the ``mosquitto`` program, or None when it is not installed.

    The ``WEIRFLOW_MOSQUITTO`` environment variable names the program when it is somewhere
    unusual (None when it names no executable file); otherwise ``PATH`` and the usual
    ``/usr/sbin`` are searched.
    """
    named = os.environ.get("WEIRFLOW_MOSQUITTO")
    if named:
        return named if os.path.isfile(named) and os.access(named, os.X_OK) else None
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class Mosquitto:
    """A private ``mosquitto`` listening on ``127.0.0.1:port`` (anonymous, no persistence).

    Args:
        port: the port; by default a free one.
        settings: more lines of mosquitto configuration.
        directory: where its configuration and log go; by default a temporary directory,
            removed by :meth:`close`.

    Raises:
        FileNotFoundError: ``mosquitto`` is not installed (at :meth:`start`).

    Example::

        with Mosquitto() as broker:
            sender = MqttSender(broker.host, port=broker.port, topic="t", pipeline="demo")
    """

    def __init__(
        self, port: int | None = None, *, settings: str = "", directory: Path | None = None
    ) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.settings = settings
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="weirflow-mosquitto-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        """What the broker wrote to its log so far."""
        path = self.directory / f"mosquitto-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        command = mosquitto_command()
        if command is None:
            raise FileNotFoundError("the mosquitto program is not installed")
        config = self.directory / f"mosquitto-{self.port}.conf"
        lines = [f"listener {self.port} {self.host}", "allow_anonymous true", "persistence false"]
        lines.append(self.settings)
        if os.geteuid() == 0:  # mosquitto would switch to its own user, who cannot read tmp
            lines.append("user root")
        config.write_text("\n".join(lines) + "\n")
        with (self.directory / f"mosquitto-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [command, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(self.host, self.port)
        except TimeoutError:
            log_text = self.log
            self.stop()
            raise TimeoutError(f"mosquitto did not start on port {self.port}: {log_text}") from None

    def stop(self) -> None:
        """Stop the broker (idempotent); :meth:`start` starts it again on the same port."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def close(self) -> None:
        """Stop the broker and remove its temporary directory (idempotent)."""
        self.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.process is not None else "stopped"
        return f"Mosquitto({self.host}:{self.port}, {state})"
