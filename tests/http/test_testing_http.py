"""LocalHTTPServer: routes, recorded requests, statuses on cue, quiet, and a clean close."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from weirflow.testing import LocalHTTPServer, Request, Response


def test_static_answers(server: LocalHTTPServer) -> None:
    server.route("GET", "/body", {"a": [1, 2]})
    server.route("GET", "/tuple", (201, ["x"]))
    server.route("GET", "/response", Response(202, "hi", {"x-custom": "1"}))
    server.route("GET", "/bytes", b"\x00")
    server.route("GET", "/none", None)
    with httpx.Client(base_url=server.url) as client:
        body = client.get("/body")
        assert (body.status_code, body.json()) == (200, {"a": [1, 2]})
        assert body.headers["content-type"] == "application/json"
        assert client.get("/tuple").json() == ["x"]
        assert client.get("/tuple").status_code == 201
        response = client.get("/response")
        assert (response.status_code, response.text) == (202, "hi")
        assert response.headers["x-custom"] == "1"
        assert response.headers["content-type"].startswith("text/plain")
        assert client.get("/bytes").content == b"\x00"
        assert client.get("/none").content == b""


def test_handler_sees_the_request(server: LocalHTTPServer) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(200, {"echo": request.json, "q": request.query})

    server.route("POST", "/echo", handler)
    answer = httpx.post(
        f"{server.url}/echo?a=1&b=&a=2", json={"k": "v"}, headers={"X-Thing": "T"}
    ).json()
    assert answer == {"echo": {"k": "v"}, "q": {"a": "2", "b": ""}}
    (request,) = seen
    assert (request.method, request.path, request.headers["x-thing"]) == ("POST", "/echo", "T")
    assert request.body == b'{"k":"v"}'
    assert server.requests == seen


def test_body_that_is_not_json(server: LocalHTTPServer) -> None:
    server.route("PUT", "/raw", Response(204))
    httpx.put(f"{server.url}/raw", content=b"not json")
    (request,) = server.requests
    assert (request.body, request.json) == (b"not json", None)


def test_chunked_request_body(server: LocalHTTPServer) -> None:
    server.route("POST", "/stream", lambda request: len(request.body))
    answer = httpx.post(f"{server.url}/stream", content=iter([b"abc", b"defg"]))
    assert answer.json() == 7
    assert server.requests[0].body == b"abcdefg"


def test_unknown_route_is_404(server: LocalHTTPServer) -> None:
    server.route("GET", "/known", {})
    response = httpx.post(f"{server.url}/known")
    assert response.status_code == 404
    assert response.json() == {"error": "no route for POST /known"}
    assert len(server.requests) == 1


def test_handler_failure_is_500(server: LocalHTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Request) -> None:
        raise KeyError("missing")

    server.route("GET", "/broken", broken)
    response = httpx.get(f"{server.url}/broken")
    assert response.status_code == 500
    assert response.json() == {"error": "KeyError: 'missing'"}
    assert [type(e) for e in server.errors] == [KeyError]
    assert "the handler of GET /broken raised" in caplog.text


def test_statuses_in_turn(server: LocalHTTPServer) -> None:
    server.route("GET", "/flaky", (201, {"ok": True}), statuses=[503, 500, 200])
    with httpx.Client() as client:
        codes = [client.get(f"{server.url}/flaky").status_code for _ in range(5)]
        assert codes == [503, 500, 200, 201, 201]
        assert client.get(f"{server.url}/flaky").json() == {"ok": True}


def test_route_is_replaced(server: LocalHTTPServer) -> None:
    server.route("GET", "/x", 1)
    server.route("get", "/x", 2)
    assert httpx.get(f"{server.url}/x").json() == 2


def test_head_has_no_body(server: LocalHTTPServer) -> None:
    server.route("HEAD", "/h", {"big": "body"})
    response = httpx.head(f"{server.url}/h")
    assert (response.status_code, response.content) == (200, b"")


def test_wait_for_requests(server: LocalHTTPServer) -> None:
    server.route("POST", "/r", Response(204))
    sender = threading.Thread(target=lambda: httpx.post(f"{server.url}/r", json=1))
    sender.start()
    try:
        assert [r.json for r in server.wait_for_requests(1, timeout=5)] == [1]
    finally:
        sender.join()
    with pytest.raises(TimeoutError, match=r"1 request.*expected 2"):
        server.wait_for_requests(2, timeout=0.05)


def test_concurrent_requests(server: LocalHTTPServer) -> None:
    server.route("GET", "/n", lambda request: int(request.query["i"]))
    results: list[int] = []

    def get(i: int) -> None:
        results.append(httpx.get(f"{server.url}/n", params={"i": i}).json())

    threads = [threading.Thread(target=get, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(16))
    assert len(server.requests) == 16


def test_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    with LocalHTTPServer() as server:
        server.route("GET", "/", {})
        httpx.get(f"{server.url}/")
        httpx.get(f"{server.url}/nothing-here")
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(b"garbage\r\n\r\n")
            raw.recv(1024)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_close_joins_its_threads_and_is_idempotent() -> None:
    before = set(threading.enumerate())
    server = LocalHTTPServer()
    server.route("GET", "/", {})
    httpx.get(f"{server.url}/")
    server.close()
    server.close()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/")


def test_close_with_an_idle_client_connected() -> None:
    server = LocalHTTPServer()
    idle = socket.create_connection(("127.0.0.1", server.port))  # connects, never sends
    try:
        time.sleep(0.05)  # let the server accept it and start waiting for the request line
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 2
    finally:
        idle.close()


def test_fixed_port_and_url() -> None:
    with LocalHTTPServer() as first:
        port = first.port
    with LocalHTTPServer(port=port) as second:  # the port can be reused at once
        assert second.url == f"http://127.0.0.1:{port}"
        assert repr(second) == f"LocalHTTPServer('http://127.0.0.1:{port}', closed=False)"
