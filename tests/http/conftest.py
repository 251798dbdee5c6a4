"""Fixtures of the HTTP tests: a local server and a port nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from weirflow.testing import LocalHTTPServer


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
