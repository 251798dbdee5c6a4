"""Reading an HTTP answer within bounds: a deadline for the whole request, a cap on the body.

httpx's ``timeout`` bounds each network operation, so a server sending one byte a second holds a
request for ever. :func:`bounded_reads` wraps the network back end of a client's transports so
that every connect, read and write waits at most until the *deadline* of the request in
progress on its thread (:func:`deadline`, a thread-local; no deadline, no change). Past it, the
operation raises httpcore's timeout, which httpx turns into ``httpx.TimeoutException``; the
caller sees :func:`deadline_passed` and reports the deadline.

:func:`read_body` streams a response's body, decoding gzip and deflate itself in pieces of at
most 64 KiB (``zlib``'s ``max_length``), and counts the *decoded* bytes as they arrive: past the
limit it stops reading and raises :class:`BodyTooLarge`, so neither a huge body nor a gzip bomb
is ever held in memory. Other encodings (``br``, ``zstd`` when their packages are installed)
are decoded by httpx chunk by chunk and counted the same way.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx

logger = logging.getLogger("weirflow.http")

_PIECE = 64 * 1024
_INFLATED = frozenset({"gzip", "x-gzip", "deflate"})

_local = threading.local()


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Bound this thread's network operations by ``at`` (``time.monotonic()``) while inside."""
    previous = getattr(_local, "at", None)
    _local.at = at
    try:
        yield
    finally:
        _local.at = previous


def deadline_passed() -> bool:
    """Whether the deadline this thread runs under has passed."""
    at = getattr(_local, "at", None)
    return at is not None and time.monotonic() >= at


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    at: float | None = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_reads(client: httpx.Client) -> bool:
    """Make every network operation of ``client`` (which we made) respect :func:`deadline`.

    httpx offers no public way to give its transports a network back end, so this reaches into
    ``HTTPTransport._pool._network_backend`` (httpcore's documented ``network_backend``). When
    that is not there, it returns False: the deadline is then checked between the chunks of a
    body only (a test guards that it is there).
    """
    transports = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    wrapped = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            if not isinstance(backend, _Backend):
                pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
            wrapped = True
    if not wrapped:
        logger.debug("cannot bound the reads of %r by a deadline", client)
    return wrapped


class BodyTooLarge(Exception):
    """The decoded body passed the limit; ``read`` is how many bytes had arrived."""

    def __init__(self, read: int, declared: int | None = None) -> None:
        super().__init__(read)
        self.read = read
        self.declared = declared


class BodyNotDecodable(Exception):
    """A gzip or deflate body is damaged."""


def read_body(response: httpx.Response, limit: int | None, *, truncate: bool = False) -> bytes:
    """The decoded body of a streamed ``response``, at most ``limit`` bytes (None: no limit).

    With ``truncate``, a longer body is cut at ``limit`` instead of being an error. The
    deadline of :func:`deadline` is checked after each piece too (for clients whose reads
    :func:`bounded_reads` could not bound).

    Raises:
        BodyTooLarge: the body (decoded) is longer than ``limit``.
        httpx.ReadTimeout: the deadline passed.
        BodyNotDecodable: a gzip or deflate body is damaged.
        httpx.HTTPError: the connection failed while reading.
    """
    encodings = _encodings(response)
    if limit is not None and not encodings and not truncate:
        declared = _declared_length(response)
        if declared is not None and declared > limit:
            raise BodyTooLarge(0, declared)
    pieces: Iterator[bytes]
    if all(encoding in _INFLATED for encoding in encodings):
        pieces = response.iter_raw()
        for encoding in reversed(encodings):
            pieces = _inflate(pieces, encoding)
    else:
        pieces = response.iter_bytes()
    kept: list[bytes] = []
    total = 0
    for piece in pieces:
        if deadline_passed():
            raise httpx.ReadTimeout("the request's deadline passed", request=response.request)
        total += len(piece)
        if limit is not None and total > limit:
            if truncate:
                kept.append(piece[: len(piece) - (total - limit)])
                break
            raise BodyTooLarge(total)
        kept.append(piece)
    return b"".join(kept)


def decoded_response(response: httpx.Response, body: bytes) -> httpx.Response:
    """A complete response holding the decoded ``body`` in place of the streamed one."""
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    extensions = {
        key: value
        for key, value in response.extensions.items()
        if key in ("http_version", "reason_phrase")
    }
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=extensions,
    )


def _encodings(response: httpx.Response) -> list[str]:
    values = response.headers.get_list("content-encoding", split_commas=True)
    return [
        value.strip().lower() for value in values if value.strip().lower() not in ("", "identity")
    ]


def _declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers.get("content-length", ""))
    except ValueError:
        return None


def _inflate(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    gzip = encoding != "deflate"
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
    first = True
    try:
        for chunk in chunks:
            data = chunk
            while True:
                try:
                    out = decoder.decompress(data, _PIECE)
                except zlib.error:
                    if first and not gzip:  # deflate without its zlib header: raw deflate
                        decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                        first = False
                        continue
                    raise
                first = False
                if out:
                    yield out
                if decoder.eof:
                    if not (gzip and decoder.unused_data):
                        break
                    data = decoder.unused_data  # gzip: another member follows
                    decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    continue
                data = decoder.unconsumed_tail
                if not data and len(out) < _PIECE:  # input used up, no output pending
                    break
        rest = decoder.flush()
        if rest:
            yield rest
    except zlib.error as error:
        raise BodyNotDecodable(f"the {encoding} body is damaged ({error})") from None
