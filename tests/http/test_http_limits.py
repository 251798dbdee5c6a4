"""Bounded answers: max_body_bytes (big bodies, gzip bombs) and the request deadline (trickles)."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import textwrap
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from weirflow import ConfigError
from weirflow.connectors.http import (
    HttpBodyTooLargeError,
    HttpDeadlineError,
    HttpDecodeError,
    HttpRequestError,
    HttpSender,
    HttpSource,
)
from weirflow.connectors.http._body import bounded_reads
from weirflow.testing import LocalHTTPServer, Response

MiB = 1024 * 1024


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """Set at the end of the test: ends the streams the server is still sending."""
    event = threading.Event()
    yield event
    event.set()


def _read(url: str, **options: Any) -> list[Any]:
    options.setdefault("backoff", 0.01)
    source = HttpSource(url, pipeline="feed", **options)
    try:
        return list(source.read({}))
    finally:
        source.close()


def endless(stop: threading.Event, piece: bytes = b"0" * 65536) -> Iterator[bytes]:
    while not stop.is_set():
        yield piece


def gzip_bomb(members: int, member_mib: int = 1) -> bytes:
    """``members`` gzip members of ``member_mib`` MiB of zeros each (each ~1 KiB compressed)."""
    member = gzip.compress(b"\0" * (member_mib * MiB), compresslevel=9)
    return member * members


# -- max_body_bytes ----------------------------------------------------------------------------


def test_an_endless_body_stops_at_the_limit(server: LocalHTTPServer, stop: threading.Event) -> None:
    server.route("GET", "/big", lambda request: Response(200, endless(stop)))
    with pytest.raises(HttpBodyTooLargeError) as caught:
        _read(f"{server.url}/big?appid=s3cr3t-key", max_body_bytes=MiB, retries=2)
    message = str(caught.value)
    assert message.startswith("pipeline 'feed': GET http://127.0.0.1:")
    assert "/big?appid=*** answered with a body over max_body_bytes=1,048,576" in message
    assert "with_http_connector(max_body_bytes=...)" in message
    assert "s3cr3t" not in message
    assert caught.value.attempts == 1  # not retried: the same body would come again
    assert len(server.requests) == 1


def test_a_declared_length_over_the_limit_is_refused_before_reading(
    server: LocalHTTPServer,
) -> None:
    server.route("GET", "/big", b"x" * (2 * MiB))
    with pytest.raises(HttpBodyTooLargeError, match=r"declares 2,097,152 bytes"):
        _read(f"{server.url}/big", max_body_bytes=MiB, decode="bytes")


def test_a_body_at_the_limit_is_read(server: LocalHTTPServer) -> None:
    server.route("GET", "/exact", b"y" * 1000)
    assert _read(f"{server.url}/exact", max_body_bytes=1000, decode="bytes") == [b"y" * 1000]


def test_a_gzip_bomb_stops_at_the_limit_of_decoded_bytes(server: LocalHTTPServer) -> None:
    bomb = gzip.compress(b"\0" * (64 * MiB), compresslevel=9)  # one member, 64 KiB
    assert len(bomb) < MiB
    server.route("GET", "/bomb", Response(200, bomb, {"content-encoding": "gzip"}))
    with pytest.raises(HttpBodyTooLargeError, match=r"went past it after [\d,]+ bytes \(decoded\)"):
        _read(f"{server.url}/bomb", max_body_bytes=MiB, decode="bytes")


def test_the_default_limit_is_100_mib(server: LocalHTTPServer) -> None:
    bomb = gzip_bomb(members=1024)  # 1 GiB decoded, about 1 MiB sent
    server.route("GET", "/bomb", Response(200, bomb, {"content-encoding": "gzip"}))
    with pytest.raises(HttpBodyTooLargeError, match=r"max_body_bytes=104,857,600"):
        _read(f"{server.url}/bomb", decode="bytes")


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
        ("gzip", lambda data: gzip.compress(data[:5]) + gzip.compress(data[5:])),  # 2 members
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
    ],
)
def test_compressed_bodies_decode(server: LocalHTTPServer, encoding: str, encode: Any) -> None:
    document = {"values": list(range(20_000)), "name": "ok"}
    body = encode(json.dumps(document).encode())
    server.route("GET", "/doc", Response(200, body, {"content-encoding": encoding}))
    assert _read(f"{server.url}/doc") == [document]


def test_a_damaged_gzip_body_is_a_decode_error(server: LocalHTTPServer) -> None:
    server.route("GET", "/bad", Response(200, b"not gzip at all", {"content-encoding": "gzip"}))
    with pytest.raises(HttpDecodeError, match=r"GET http://.*/bad .*gzip body is damaged"):
        _read(f"{server.url}/bad")


def test_memory_stays_bounded_for_a_2_gib_body_and_a_gzip_bomb(tmp_path: Any) -> None:
    """In a fresh process: the peak RSS grows by tens of MiB, not by the bodies' GiBs."""
    script = tmp_path / "bounded.py"
    script.write_text(
        textwrap.dedent(
            """
            import gzip, json, resource, threading
            from weirflow.connectors.http import HttpBodyTooLargeError, HttpSource
            from weirflow.testing import LocalHTTPServer, Response

            def peak():
                return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

            def two_gib():
                for _ in range(2048):
                    yield b"0" * (1024 * 1024)

            bomb = gzip.compress(b"\\0" * (1024 * 1024), compresslevel=9) * 2048  # 2 GiB
            errors = []
            with LocalHTTPServer() as server:
                server.route("GET", "/big", lambda request: Response(200, two_gib()))
                server.route("GET", "/bomb", Response(200, bomb, {"content-encoding": "gzip"}))
                server.route("GET", "/small", {"ok": True})
                source = HttpSource(server.url + "/small", max_body_bytes=16 * 1024 * 1024)
                source.read({})
                before = peak()
                for path in ("/big", "/bomb"):
                    try:
                        source.read({"url": server.url + path})
                    except HttpBodyTooLargeError as error:
                        errors.append(type(error).__name__)
                source.close()
            print(json.dumps({"growth": peak() - before, "errors": errors}))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout)
    assert result["errors"] == ["HttpBodyTooLargeError", "HttpBodyTooLargeError"]
    assert result["growth"] < 200 * MiB, result  # 16 MiB kept at most, twice over while joined


# -- the deadline -------------------------------------------------------------------------------


def trickle(stop: threading.Event, every: float = 0.05) -> Iterator[bytes]:
    """A JSON body of spaces, one byte every ``every`` s, that never ends."""
    while not stop.wait(every):
        yield b" "


def test_a_trickling_body_ends_at_the_deadline(
    server: LocalHTTPServer, stop: threading.Event
) -> None:
    server.route("GET", "/slow", lambda request: Response(200, trickle(stop)))
    with pytest.raises(HttpDeadlineError) as caught:
        _read(f"{server.url}/slow?token=t0k3n", timeout=2, deadline_seconds=0.5, retries=2)
    message = str(caught.value)
    assert "GET http://127.0.0.1:" in message
    assert "/slow?token=*** did not complete" in message
    assert "deadline_seconds=0.5" in message
    assert "t0k3n" not in message
    assert caught.value.attempts == 1
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


def test_trickling_headers_end_at_the_deadline(stop: threading.Event) -> None:
    """A server that sends its status line a byte at a time: each read is quick, all is slow."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)  # the thread ends even if no client ever comes
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 10_000:
                if stop.wait(0.05):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with pytest.raises(HttpDeadlineError, match=r"deadline_seconds=0.4"):
            _read(f"http://127.0.0.1:{port}/x", timeout=2, deadline_seconds=0.4, retries=0)
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_the_deadline_covers_the_retries(server: LocalHTTPServer) -> None:
    server.route("GET", "/down", {"never": True}, statuses=[503] * 10)
    with pytest.raises(HttpRequestError, match=r"no time for a retry within deadline_seconds=1"):
        _read(f"{server.url}/down", retries=5, backoff=30, deadline_seconds=1)
    assert len(server.requests) == 1


def test_the_default_deadline_is_five_timeouts() -> None:
    source = HttpSource("http://127.0.0.1/x", timeout=3)
    assert source._http.deadline_seconds == 15
    source.close()


def test_our_clients_have_their_reads_bounded() -> None:
    """Guards the reach into httpx's transport (no public hook for a network back end)."""
    client = httpx.Client()
    try:
        assert bounded_reads(client)
    finally:
        client.close()


def test_the_sender_has_the_limits_too(server: LocalHTTPServer, stop: threading.Event) -> None:
    server.route("POST", "/in", lambda request: Response(200, trickle(stop)))
    sender = HttpSender(f"{server.url}/in", deadline_seconds=0.3, pipeline="out", backoff=0.01)
    try:
        with pytest.raises(HttpDeadlineError, match=r"pipeline 'out': POST http://"):
            sender.send({"n": 1})
    finally:
        sender.close()


# -- what the body decodes to ---------------------------------------------------------------------


def test_json_nested_too_deeply_is_a_decode_error(server: LocalHTTPServer) -> None:
    server.route("GET", "/deep", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(HttpDecodeError) as caught:
        _read(f"{server.url}/deep?apikey=k3y")
    message = str(caught.value)
    assert "GET http://127.0.0.1:" in message
    assert "/deep?apikey=*** answered 200" in message
    assert "nested too deeply" in message
    assert "k3y" not in message


# -- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"max_body_bytes": True}, "max_body_bytes"),
        ({"max_body_bytes": 1.5}, "max_body_bytes"),
        ({"deadline_seconds": 0}, "deadline_seconds"),
        ({"deadline_seconds": float("nan")}, "deadline_seconds"),
        ({"deadline_seconds": float("inf")}, "deadline_seconds"),
        ({"timeout": float("inf")}, "timeout"),
        ({"backoff": float("inf")}, "backoff"),
        ({"redact": [3]}, "redact"),
        ({"redact": ["/no/star"]}, "redact"),
    ],
)
def test_bad_limits_are_config_errors(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"pipeline 'feed': with_http_connector\({field}="):
        HttpSource("http://127.0.0.1/x", pipeline="feed", **options)
    with pytest.raises(ConfigError, match=rf"send\('http_post', {field}="):
        HttpSender("http://127.0.0.1/x", pipeline="feed", **options)


def test_no_limit_when_asked(server: LocalHTTPServer) -> None:
    server.route("GET", "/n", b"z" * 5000)
    assert _read(f"{server.url}/n", max_body_bytes=None, decode="bytes") == [b"z" * 5000]


def test_a_sender_reads_at_most_the_limit_of_an_answer_without_failing(
    server: LocalHTTPServer, stop: threading.Event
) -> None:
    """The item was accepted: a long answer is not a reason to send it again."""
    server.route("POST", "/in", lambda request: Response(200, endless(stop)))
    sender = HttpSender(f"{server.url}/in", max_body_bytes=MiB, pipeline="out")
    try:
        sender.send({"n": 1})
    finally:
        sender.close()
    assert len(server.requests) == 1


def test_the_builder_forwards_the_limits(server: LocalHTTPServer, tmp_path: Any) -> None:
    from weirflow import FlowBuilder

    builder = FlowBuilder()
    with pytest.raises(
        ConfigError,
        match=r"pipeline 'feed', stage 'feed.http_connector': with_http_connector\(max_body",
    ):
        builder.add_pipeline("feed").with_http_connector(f"{server.url}/x", max_body_bytes=0)
    server.route("GET", "/big", b"x" * 5000)
    builder = FlowBuilder()
    builder.add_pipeline("feed", on_failure="continue").with_http_connector(
        f"{server.url}/big", decode="bytes", max_body_bytes=1000, deadline_seconds=5, redact=["q"]
    ).with_storage("jsonl", path=tmp_path / "x.jsonl")
    flow = builder.build()
    flow.launch_flow()
    assert flow.statistics()["feed"]["failures"] == 1
    assert not (tmp_path / "x.jsonl").exists()
