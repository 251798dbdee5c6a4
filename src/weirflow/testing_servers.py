"""Finding the real servers tests run against (PostgreSQL, Mosquitto, ...).

A test that needs a server calls :func:`require_server`. When the server does not answer, the
test is skipped with a clear reason on a laptop, but fails in CI (``CI=true``), where a missing
server means a broken set-up, never a silent skip.

Example:
    >>> reachable("127.0.0.1", 1, timeout=0.2)
    False
"""

from __future__ import annotations

import os
import socket

import pytest


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) the calling test unless ``name`` answers at ``host:port``."""
    if reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}; start it (see .ci/run for the commands)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {message}")
    pytest.skip(message)
