"""Expected operational failures are one clear line; the third-party traceback goes to DEBUG.

Connection refused, an unknown host, a timeout, an error answer with a multi-line body: the
error's message is one line naming the pipeline, the method and the redacted URL; the retry
WARNINGs carry no traceback; the httpx/httpcore traceback is logged once at DEBUG. Through a
flow, the WARNING of a failed run names the pipeline, the stage and the target on one line.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from weirflow import FlowBuilder
from weirflow.connectors.http import HttpRequestError, HttpSource
from weirflow.testing import LocalHTTPServer, Request, Response


def _fail(url: str, **options: Any) -> HttpRequestError:
    options.setdefault("backoff", 0.01)
    source = HttpSource(url, pipeline="weather", **options)
    try:
        with pytest.raises(HttpRequestError) as caught:
            source.read({})
    finally:
        source.close()
    return caught.value


def _check_logs(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    for record in loud:
        assert "\n" not in record.getMessage()
        assert record.exc_info is None
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    tracebacks = [m for m in debug if "the httpx traceback" in m]
    assert len(tracebacks) == 1
    assert "Traceback (most recent call last)" in tracebacks[0]
    assert "httpcore" in tracebacks[0]


def test_connection_refused(closed_port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="weirflow")
    error = _fail(f"http://127.0.0.1:{closed_port}/now?appid=s3cret", retries=1)
    message = str(error)
    assert "\n" not in message
    assert message == (
        f"pipeline 'weather': GET http://127.0.0.1:{closed_port}/now?appid=*** failed "
        "(after 2 attempts): ConnectError: [Errno 111] Connection refused"
    )
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1  # the retry
    _check_logs(caplog)


def test_an_unknown_host(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="weirflow")
    error = _fail("http://no-such-host.invalid/now", retries=0, timeout=5)
    message = str(error)
    assert message.startswith("pipeline 'weather': GET http://no-such-host.invalid/now failed: ")
    assert "ConnectError" in message
    assert "\n" not in message
    _check_logs(caplog)


def test_a_timeout(server: LocalHTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="weirflow")
    release = threading.Event()

    def slow(request: Request) -> dict[str, bool]:
        release.wait(5)
        return {"late": True}

    server.route("GET", "/slow", slow)
    try:
        error = _fail(f"{server.url}/slow", timeout=0.2, retries=0)
    finally:
        release.set()
    assert str(error).endswith("/slow failed: ReadTimeout: timed out")
    _check_logs(caplog)


def test_an_error_body_on_many_lines_is_one_line(server: LocalHTTPServer) -> None:
    server.route("GET", "/x", Response(400, "line one\nline two\r\n\n  line three"))
    error = _fail(f"{server.url}/x")
    assert str(error).endswith("answered 400 Bad Request: line one line two line three")


def test_a_failed_run_of_a_flow_is_one_warning_line(
    closed_port: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="weirflow")
    builder = FlowBuilder()
    builder.add_pipeline("weather", on_failure="continue").with_http_connector(
        f"http://127.0.0.1:{closed_port}/now?appid=s3cret", retries=0
    ).with_storage("jsonl", path=tmp_path / "now.jsonl")
    builder.build().launch_flow()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    for record in loud:
        assert "\n" not in record.getMessage()
        assert record.exc_info is None
    failed = [r.getMessage() for r in loud if "stage 'weather.http_connector'" in r.getMessage()]
    assert len(failed) == 1
    line = failed[0]
    assert "pipeline 'weather'" in line
    assert "stage 'weather.http_connector'" in line
    assert f"GET http://127.0.0.1:{closed_port}/now?appid=*** failed" in line
    assert "Connection refused" in line
    assert "s3cret" not in caplog.text


def test_a_lone_surrogate_in_an_item_to_send_names_the_field(server: LocalHTTPServer) -> None:
    from weirflow.connectors.http import HttpSender
    from weirflow.senders import PayloadError

    server.route("POST", "/in", {"ok": True})
    sender = HttpSender(f"{server.url}/in", pipeline="out")
    try:
        with pytest.raises(PayloadError, match=r"send\('http_post'\): cannot send it: item"):
            sender.send({"readings": [{"name": "bad \udc80"}]})
    finally:
        sender.close()
    assert server.requests == []
