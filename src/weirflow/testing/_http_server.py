"""A real HTTP server on 127.0.0.1 for tests and demos, usable in your own tests too.

:class:`LocalHTTPServer` listens on an ephemeral port (or the one you give), answers the routes
you declare (a static answer or a handler function), records every request it receives, and can
fail on cue (``statuses=[503, 503]``) to exercise retries. It is quiet (nothing is printed per
request) and tidy: :meth:`LocalHTTPServer.close` stops accepting, ends the connections still
open and joins every thread it started, so no thread outlives it. Give it an
``ssl.SSLContext`` to serve HTTPS. A body given as an iterator of bytes is streamed as it is
produced, to test big, endless or slow answers.

Example:
    >>> import httpx
    >>> with LocalHTTPServer() as server:
    ...     server.route("GET", "/numbers", lambda request: {"n": int(request.query["n"]) * 2})
    ...     answer = httpx.get(f"{server.url}/numbers", params={"n": 21}).json()
    >>> answer
    {'n': 42}
"""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .._threads import make_thread

__all__ = ["LocalHTTPServer", "Request", "Response"]

logger = logging.getLogger("weirflow.testing")


@dataclass(frozen=True)
class Request:
    """A request the server received.

    Attributes:
        method: ``GET``, ``POST``...
        path: the path, without the query string.
        query: the query parameters (the last value of a repeated name).
        headers: the headers, names in lower case.
        body: the raw body.
        json: the body parsed as JSON, or ``None`` if it is empty or not JSON.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass(frozen=True)
class Response:
    """An answer: a status, a body and headers.

    The body is sent as JSON, except ``None`` (no body), ``str`` (``text/plain``), ``bytes``
    (``application/octet-stream``) and an iterator of ``bytes`` (a generator), which is
    streamed piece by piece as it is produced and ends with the connection (no
    ``content-length`` unless a header gives one); a ``content-type`` header overrides the
    type. A client that goes away ends the stream (the iterator is closed).
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Any]
"""A route's handler: takes the :class:`Request`, returns a Response, (status, body) or a body."""


def _as_response(answer: Any) -> Response:
    if isinstance(answer, Response):
        return answer
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], int):
        return Response(answer[0], answer[1])
    return Response(200, answer)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _Route:
    def __init__(self, answer: Handler | Any, statuses: tuple[int, ...]) -> None:
        self.answer = answer
        self.statuses = statuses
        self.calls = 0


class LocalHTTPServer:
    """An HTTP server in a background thread, for tests and demos.

    Args:
        host: the address to listen on.
        port: the port; 0 (the default) picks a free one.
        ssl_context: serve HTTPS with this server-side context.

    Attributes:
        url: the base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash).
        port: the port it listens on.

    Example:
        >>> import httpx
        >>> with LocalHTTPServer() as server:
        ...     server.route("POST", "/reports", (201, {"ok": True}), statuses=[503])
        ...     first = httpx.post(f"{server.url}/reports", json={"mean": 2}).status_code
        ...     second = httpx.post(f"{server.url}/reports", json={"mean": 2}).status_code
        ...     bodies = [request.json for request in server.requests]
        >>> first, second, bodies
        (503, 201, [{'mean': 2}, {'mean': 2}])
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._routes: dict[tuple[str, str], _Route] = {}
        self._requests: list[Request] = []
        self._connections: set[socket.socket] = set()
        self.errors: list[BaseException] = []
        """Exceptions raised by handlers (each answered with a 500)."""
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        try:
            if ssl_context is not None:
                self._httpd.socket = ssl_context.wrap_socket(
                    self._httpd.socket, server_side=True, do_handshake_on_connect=False
                )
            # Never block in accept(): a connection gone before we accept it is skipped.
            self._httpd.socket.setblocking(False)
        except BaseException:
            self._httpd.server_close()
            raise
        self._httpd.timeout = 0
        self.port: int = self._httpd.server_address[1]
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._closed = False
        self._thread = make_thread(self._serve, name=f"LocalHTTPServer {self.url}", daemon=False)
        self._thread.start()

    # -- configuration ------------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        response: Handler | Any,
        *,
        statuses: Iterable[int] = (),
    ) -> None:
        """Answer ``method path`` with ``response``; a later call for the same route replaces it.

        Args:
            method: the HTTP method, e.g. ``"GET"``.
            path: the path, without a query string, e.g. ``"/numbers"``.
            response: a handler (called with the :class:`Request`, returns what follows), a
                :class:`Response`, a ``(status, body)`` tuple, or a body (answered with 200).
                To answer a JSON array, use a list: a tuple is read as ``(status, body)``.
            statuses: statuses for the first requests, in turn, before the route answers as
                usual. An error status (>= 400) is answered with ``{"error": <reason>}``
                without calling the handler; another status replaces the status of the route's
                answer. For example ``statuses=[503, 503]``: two failures, then the answer.
        """
        with self._lock:
            self._routes[(method.upper(), path)] = _Route(response, tuple(statuses))

    # -- what was received --------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Request]:
        """Wait until at least ``count`` requests have arrived; return them.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds.
        """
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(
                    f"{self.url}: {len(self._requests)} request(s) arrived in {timeout} s, "
                    f"expected {count}"
                )
            return list(self._requests)

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving, end open connections and join every thread; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake_writer.send(b"x")
        self._thread.join()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # unblock handlers waiting for a slow client's request
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RD)
        self._httpd.server_close()  # joins the request threads
        self._wake_reader.close()
        self._wake_writer.close()

    def __enter__(self) -> LocalHTTPServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalHTTPServer({self.url!r}, closed={self._closed})"

    # -- inside -------------------------------------------------------------------------------

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._httpd.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake_reader in ready:
                    return
                self._httpd.handle_request()  # accepts, then a thread answers

    def _track(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _answer(self, request: Request) -> Response:
        with self._lock:
            self._requests.append(request)
            self._arrived.notify_all()
            route = self._routes.get((request.method, request.path))
            if route is None:
                return Response(404, {"error": f"no route for {request.method} {request.path}"})
            status = route.statuses[route.calls] if route.calls < len(route.statuses) else None
            route.calls += 1
        if status is not None and status >= 400:
            return Response(status, {"error": _phrase(status)})
        try:
            answer = route.answer(request) if callable(route.answer) else route.answer
            response = _as_response(answer)
        except Exception as error:
            logger.warning(
                "%s: the handler of %s %s raised",
                self.url,
                request.method,
                request.path,
                exc_info=True,
            )
            with self._lock:
                self.errors.append(error)
            return Response(500, {"error": f"{type(error).__name__}: {error}"})
        if status is not None:
            response = Response(status, response.body, response.headers)
        return response


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # request threads are joined by server_close()
    block_on_close = True
    request_queue_size = 128  # the default (5) drops bursts of connections for a second
    owner: LocalHTTPServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can take seconds; skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away, a failed TLS handshake: not worth a traceback on stderr.
        logger.debug("%s: error answering %s", self.owner.url, client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30  # a client that stalls mid-request cannot hold a thread for ever

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except BaseException:  # finish() will not run: forget the connection here
                self.server.owner._track(self.connection, add=False)
                raise

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: nothing is printed per request."""

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            json=parsed,
        )
        response = self.server.owner._answer(request)
        if isinstance(response.body, Iterator):
            self._stream(response, response.body)
            return
        content, content_type = _encode(response.body)
        headers = {name.lower(): value for name, value in response.headers.items()}
        if content_type and "content-type" not in headers:
            headers["content-type"] = content_type
        no_body = response.status in (204, 304) or 100 <= response.status < 200
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not no_body:
            self.send_header("content-length", str(len(content)))
        self.end_headers()
        if not no_body and self.command != "HEAD":
            self.wfile.write(content)

    def _stream(self, response: Response, pieces: Iterator[bytes]) -> None:
        self.close_connection = True  # the body ends with the connection
        try:
            self.send_response(response.status)
            headers = {name.lower(): value for name, value in response.headers.items()}
            headers.setdefault("content-type", "application/octet-stream")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()
            for piece in pieces:
                self.wfile.write(piece)
                self.wfile.flush()
        except OSError:  # the client went away
            pass
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


def _encode(body: Any) -> tuple[bytes, str | None]:
    if body is None:
        return b"", None
    if isinstance(body, bytes | bytearray):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json"
