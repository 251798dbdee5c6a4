"""The flow's HTTP server: one thread of weirflow's, serving the status page, metrics and health.

:func:`serve` binds at once (a taken port or a bad address is a ``ConfigError`` before the
flow starts) and serves from a thread that blocks SIGINT and SIGTERM, as every weirflow thread
does, so signals still reach the flow's supervisor in the main thread (prometheus_client's
``start_http_server`` would start a thread that catches them). Request threads inherit that.
:meth:`StatusServer.close` stops it and joins every thread it started. Routes:

* ``/``: the live status page (one self-contained HTML file, ``_page.html``);
* ``/api/status``: its data as JSON (``_status.py``);
* ``/metrics``: Prometheus text from a registry of this server's own (``_metrics.py``);
* ``/healthz`` and ``/readyz``: 200 or 503 with the checks as JSON (``_health.py``).

Nothing is authenticated: it binds to localhost unless given another address.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any

from .._errors import ConfigError
from .._threads import make_thread
from ._health import liveness, readiness
from ._metrics import metrics_text, new_registry
from ._status import status_json

logger = logging.getLogger("weirflow.observe")

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# the page runs its own inline script and talks only to this server
PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
)


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` (``":8000"``: localhost; ``"[::1]:8000"``) as ``(host, port)``.

    Raises:
        ConfigError: not ``host:port`` with a port from 0 to 65535.

    Example:
        >>> parse_address("127.0.0.1:8000"), parse_address(":0"), parse_address("[::1]:9")
        (('127.0.0.1', 8000), ('127.0.0.1', 0), ('::1', 9))
    """
    if not isinstance(address, str):
        raise ConfigError(f"http must be 'host:port' such as '127.0.0.1:8000', got {address!r}")
    host, separator, port_text = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not separator or not 0 <= port <= 65535 or (":" in host and not address.startswith("[")):
        raise ConfigError(
            f"http must be 'host:port' such as '127.0.0.1:8000' (port 0 picks a free one), "
            f"got {address!r}"
        )
    return host or "127.0.0.1", port


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # close() joins the request threads
    flow: Any
    registry: Any


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "weirflow"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/":
                self._send(200, "text/html; charset=utf-8", _page(), PAGE_POLICY)
            elif path == "/metrics":
                self._send(200, METRICS_CONTENT_TYPE, metrics_text(self.server.registry))
            elif path == "/api/status":
                self._json(200, status_json(self.server.flow))
            elif path in ("/healthz", "/readyz"):
                check = liveness if path == "/healthz" else readiness
                health = check(self.server.flow)
                self._json(200 if health.ok else 503, health.as_dict())
            else:
                self._json(404, {"error": f"no such page: {path}"})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client left
        except Exception as error:  # the server keeps serving; the flow goes on
            logger.warning("status server: %s failed: %s: %s", path, type(error).__name__, error)
            logger.debug("status server: traceback", exc_info=error)
            self._json(500, {"error": type(error).__name__})

    def _json(self, code: int, data: Any) -> None:
        body = json.dumps(data, allow_nan=False).encode()
        self._send(code, "application/json", body)

    def _send(self, code: int, content_type: str, body: bytes, policy: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if policy is not None:
            self.send_header("Content-Security-Policy", policy)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("status server: " + format, *args)


_page_bytes: bytes | None = None


def _page() -> bytes:
    global _page_bytes
    if _page_bytes is None:
        _page_bytes = files("weirflow.observe").joinpath("_page.html").read_bytes()
    return _page_bytes


class StatusServer:
    """A running server of one flow (see :func:`serve`); ``close()`` stops it."""

    def __init__(self, flow: Any, address: str) -> None:
        host, port = parse_address(address)
        kind = _Server6 if ":" in host else _Server
        try:
            server = kind((host, port), _Handler, bind_and_activate=True)
        except OSError as error:
            raise ConfigError(
                f"http: cannot listen on {address!r}: {error.strerror or error}"
            ) from None
        server.flow = flow
        server.registry = new_registry(flow)
        self._server = server
        self.host, self.port = str(server.server_address[0]), int(server.server_address[1])
        self._thread = make_thread(server.serve_forever, 0.5, name="weirflow status server")
        self._thread.start()
        self._closed = threading.Event()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def close(self) -> None:
        """Stop serving and join every thread of the server (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> StatusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(flow: Any, address: str) -> StatusServer:
    """Serve ``flow``'s status page, metrics and health at ``address`` (``"host:port"``).

    Raises:
        ConfigError: a bad address, or one that cannot be listened on (a taken port).
    """
    return StatusServer(flow, address)
