"""HttpSource against a real local server: requests, parameters, retries, errors, validation."""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from weirflow import ConfigError, InvalidArgumentError
from weirflow.connectors.http import HttpDecodeError, HttpRequestError, HttpSource
from weirflow.testing import LocalHTTPServer, Request, Response


@pytest.fixture
def make_source() -> Iterator[Any]:
    """Makes sources with fast retries and closes them after the test."""
    made: list[HttpSource] = []

    def make(source: Any, **options: Any) -> HttpSource:
        options.setdefault("backoff", 0.01)
        options.setdefault("pipeline", "readings")
        made.append(HttpSource(source, **options))
        return made[-1]

    yield make
    for source in made:
        source.close()


def echo(request: Request) -> dict[str, Any]:
    return {"method": request.method, "path": request.path, "query": request.query}


def test_get_sends_headers_and_params(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/numbers", {"value": 7})
    source = make_source(
        f"{server.url}/numbers", headers={"apikey": "custom_key_1234"}, params={"limit": 5}
    )
    assert list(source.read({})) == [{"value": 7}]
    (request,) = server.requests
    assert request.method == "GET"
    assert request.headers["apikey"] == "custom_key_1234"
    assert request.query == {"limit": "5"}


def test_each_read_is_one_request(server: LocalHTTPServer, make_source: Any) -> None:
    counter = iter(range(100))
    server.route("GET", "/n", lambda request: {"n": next(counter)})
    source = make_source(f"{server.url}/n")
    assert [list(source.read({})) for _ in range(3)] == [[{"n": 0}], [{"n": 1}], [{"n": 2}]]
    assert len(server.requests) == 3


def test_post_with_configuration_parameters(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("POST", "/query", lambda request: {"got": request.json})
    source = make_source(f"{server.url}/query", method="POST", json={"table": "readings"})
    assert list(source.read({"since": 10, "table": "archive"})) == [
        {"got": {"table": "archive", "since": 10}}
    ]
    assert server.requests[0].query == {}


def test_get_configuration_keys_go_to_the_query(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/numbers", echo)
    source = make_source(f"{server.url}/numbers", params={"limit": 5, "unit": "C"})
    (body,) = source.read({"limit": 9, "station": "north"})
    assert body["query"] == {"limit": "9", "unit": "C", "station": "north"}


def test_configuration_overrides_the_request(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("PUT", "/other", lambda request: {"json": request.json, "query": request.query})
    source = make_source(f"{server.url}/numbers", headers={"apikey": "k", "x-a": "1"})
    (body,) = source.read(
        {
            "url": f"{server.url}/other",
            "method": "put",
            "params": {"page": 2},
            "headers": {"x-a": "2"},
            "json": {"replace": True},
        }
    )
    assert body == {"json": {"replace": True}, "query": {"page": "2"}}
    request = server.requests[0]
    assert (request.headers["apikey"], request.headers["x-a"]) == ("k", "2")


def test_form_data_and_extra_keys(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("POST", "/form", lambda request: request.body.decode())
    source = make_source(f"{server.url}/form", method="POST", data={"a": "1"}, decode="text")
    assert list(source.read({"b": "2"})) == ["a=1&b=2"]
    assert server.requests[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_extra_keys_cannot_join_a_non_object_body(
    server: LocalHTTPServer, make_source: Any
) -> None:
    source = make_source(f"{server.url}/x", method="POST", json=[1, 2])
    with pytest.raises(TypeError, match=r"pipeline 'readings'.*since"):
        source.read({"since": 1})
    assert server.requests == []


def test_callable_source(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/weather/oslo", echo)

    def url(city: str) -> str:
        return f"{server.url}/weather/{city}"

    source = make_source(url)
    (body,) = source.read({"city": "oslo", "units": "metric"})
    assert body == {"method": "GET", "path": "/weather/oslo", "query": {"units": "metric"}}


def test_an_async_source_function_is_awaited(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/weather/oslo", echo)

    async def url(city: str) -> str:
        return f"{server.url}/weather/{city}"

    source = make_source(url)
    (body,) = source.read({"city": "oslo"})
    assert body["path"] == "/weather/oslo"


def test_callable_source_with_kwargs_gets_everything(
    server: LocalHTTPServer, make_source: Any
) -> None:
    server.route("GET", "/all", echo)
    seen: dict[str, Any] = {}

    def url(**parameters: Any) -> str:
        seen.update(parameters)
        return f"{server.url}/all"

    source = make_source(url)
    (body,) = source.read({"a": 1})
    assert seen == {"a": 1}
    assert body["query"] == {"a": "1"}  # not named by the function: still sent


def test_callable_source_missing_parameter(make_source: Any) -> None:
    source = make_source(lambda city: f"http://127.0.0.1/{city}")
    with pytest.raises(TypeError, match=r"pipeline 'readings'.*needs city.*gave nothing"):
        source.read({})


def test_callable_source_must_return_a_string(make_source: Any) -> None:
    source = make_source(lambda: 42)
    with pytest.raises(TypeError, match="must return the URL as a string"):
        source.read({})


def test_retries_503_then_success(
    server: LocalHTTPServer, make_source: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("GET", "/flaky", {"ok": True}, statuses=[503, 503])
    source = make_source(f"{server.url}/flaky", retries=2)
    assert list(source.read({})) == [{"ok": True}]
    assert len(server.requests) == 3
    retries = [r for r in caplog.records if r.name == "weirflow.http"]
    assert [r.levelname for r in retries] == ["WARNING", "WARNING"]
    assert "pipeline 'readings'" in retries[0].getMessage()
    assert "503 Service Unavailable" in retries[0].getMessage()


def test_5xx_after_the_retries_is_an_error(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/down", Response(502, {"error": "upstream"}))
    source = make_source(f"{server.url}/down?apikey=topsecret", retries=2)
    with pytest.raises(HttpRequestError) as caught:
        source.read({})
    error = caught.value
    assert len(server.requests) == 3
    assert (error.status_code, error.attempts, error.method) == (502, 3, "GET")
    assert error.url == f"{server.url}/down?apikey=***"
    assert "pipeline 'readings': GET " in str(error)
    assert "502 Bad Gateway (after 3 attempts)" in str(error)
    assert "topsecret" not in str(error)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert "topsecret" not in str(error.__cause__)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_4xx_is_not_retried(server: LocalHTTPServer, make_source: Any, status: int) -> None:
    server.route("GET", "/numbers", Response(status, {"error": "nope"}))
    source = make_source(f"{server.url}/numbers", retries=3)
    with pytest.raises(HttpRequestError, match=rf"answered {status} .*nope") as caught:
        source.read({})
    assert len(server.requests) == 1
    assert caught.value.status_code == status
    assert caught.value.attempts == 1


def test_connection_refused(closed_port: int, make_source: Any) -> None:
    url = f"http://user:pa55word@127.0.0.1:{closed_port}/numbers?token=abc123"
    source = make_source(url, retries=2)
    started = time.monotonic()
    with pytest.raises(HttpRequestError) as caught:
        source.read({})
    error = caught.value
    assert time.monotonic() - started < 5
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert error.status_code is None
    assert error.attempts == 3
    message = str(error)
    assert message.startswith("pipeline 'readings': GET http://***@127.0.0.1:")
    assert "token=***" in message
    assert "failed (after 3 attempts): ConnectError" in message
    assert "pa55word" not in message
    assert "abc123" not in message


def test_timeout_is_retried(server: LocalHTTPServer, make_source: Any) -> None:
    release = threading.Event()

    def slow(request: Request) -> dict[str, bool]:
        release.wait(5)
        return {"late": True}

    server.route("GET", "/slow", slow)
    source = make_source(f"{server.url}/slow", timeout=0.2, retries=1)
    try:
        with pytest.raises(HttpRequestError, match="ReadTimeout") as caught:
            source.read({})
    finally:
        release.set()
    assert caught.value.attempts == 2
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_non_json_body(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/page", "<html>hello</html>")
    source = make_source(f"{server.url}/page")
    with pytest.raises(HttpDecodeError, match=r"not JSON \(content-type text/plain.*<html>") as e:
        source.read({})
    assert isinstance(e.value, ValueError)
    assert "decode='text'" in str(e.value)
    assert len(server.requests) == 1  # a body that does not decode is not retried


def test_decode_text_and_bytes(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/page", "<html>hello</html>")
    assert list(make_source(f"{server.url}/page", decode="text").read({})) == ["<html>hello</html>"]
    assert list(make_source(f"{server.url}/page", decode="bytes").read({})) == [
        b"<html>hello</html>"
    ]


def test_204_yields_nothing(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/empty", Response(204))
    assert list(make_source(f"{server.url}/empty").read({})) == []


def test_concurrent_reads_share_one_client(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("GET", "/n", lambda request: {"i": int(request.query["i"])})
    source = make_source(f"{server.url}/n")
    results: list[Any] = []

    def read(i: int) -> None:
        results.extend(source.read({"i": i}))

    threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["i"] for r in results) == list(range(8))


def test_close_ends_a_waiting_retry(server: LocalHTTPServer) -> None:
    server.route("GET", "/down", Response(503))
    source = HttpSource(f"{server.url}/down", retries=5, backoff=30, pipeline="readings")
    errors: list[BaseException] = []

    def read() -> None:
        try:
            source.read({})
        except HttpRequestError as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    started = time.monotonic()
    reader.start()
    server.wait_for_requests(1)
    source.close()
    reader.join(5)
    assert time.monotonic() - started < 5
    assert len(errors) == 1
    assert len(server.requests) == 1


def test_a_closed_source_refuses_to_read(server: LocalHTTPServer) -> None:
    source = HttpSource(f"{server.url}/x", pipeline="readings")
    source.close()
    with pytest.raises(RuntimeError, match=r"pipeline 'readings'.*closed"):
        source.read({})


def test_a_given_client_is_used_and_left_open(server: LocalHTTPServer) -> None:
    server.route("GET", "/n", {"n": 1})
    with httpx.Client(headers={"x-from": "mine"}) as client:
        source = HttpSource(f"{server.url}/n", client=client)
        assert list(source.read({})) == [{"n": 1}]
        source.close()
        assert not client.is_closed
    assert server.requests[0].headers["x-from"] == "mine"


def test_configuration_alias_of_wiredflow(server: LocalHTTPServer, make_source: Any) -> None:
    server.route("POST", "/q", {"ok": 1})
    source = make_source(f"{server.url}/q", configuration="post")
    assert source.method == "POST"
    assert list(source.read({})) == [{"ok": 1}]


def test_runtime_method_is_checked(make_source: Any) -> None:
    source = make_source("http://127.0.0.1:9/x")
    with pytest.raises(InvalidArgumentError, match=r"pipeline 'readings': the configuration's"):
        source.read({"method": "TRACE"})


def test_runtime_url_is_checked(make_source: Any) -> None:
    source = make_source("http://127.0.0.1:9/x")
    with pytest.raises(InvalidArgumentError, match=r"configuration's 'url'.*http://"):
        source.read({"url": "ftp://files/x"})


@pytest.mark.parametrize(
    ("options", "field", "fix"),
    [
        ({"source": "ftp://host/x"}, "source", "http:// or https://"),
        ({"source": "/numbers"}, "source", "http:// or https://"),
        ({"source": 42}, "source", "must be a string"),
        ({"method": "TRACE"}, "method", "GET, POST, PUT, PATCH, DELETE"),
        ({"timeout": 0}, "timeout", "> 0"),
        ({"timeout": True}, "timeout", "> 0"),
        ({"retries": -1}, "retries", ">= 0"),
        ({"retries": 1.5}, "retries", ">= 0"),
        ({"backoff": -1}, "backoff", ">= 0"),
        ({"decode": "xml"}, "decode", "json, text, bytes"),
        ({"headers": {"apikey": 1}}, "headers", "dict of strings"),
        ({"params": [1]}, "params", "dict"),
        ({"json": {}, "data": {}}, "data", "not both"),
        ({"configuration": "patch"}, "configuration", "'get' or 'post'"),
        ({"configuration": "post", "method": "PUT"}, "configuration", "disagree"),
        ({"verify": "/no/such/ca.pem"}, "verify", "cannot load the CA bundle"),
        ({"verify": 3}, "verify", "True, False or the path"),
        ({"cert": "/no/such/cert.pem"}, "cert", "cannot load the client certificate"),
        ({"client": object()}, "client", "httpx.Client"),
    ],
)
def test_validation_at_build_time(options: dict[str, Any], field: str, fix: str) -> None:
    options = {"source": "http://localhost:8025/numbers", **options}
    with pytest.raises(ConfigError) as caught:
        HttpSource(pipeline="readings", **options)
    message = str(caught.value)
    assert message.startswith(f"pipeline 'readings': with_http_connector({field}=...): ")
    assert fix in message


def test_validation_masks_credentials() -> None:
    with pytest.raises(ConfigError) as caught:
        HttpSource("ftp://me:hunter22@host/x?apikey=abcdef", pipeline="readings")
    assert "hunter22" not in str(caught.value)
    assert "abcdef" not in str(caught.value)


def test_repr_masks_credentials() -> None:
    source = HttpSource("http://h/x?apikey=abcdef", pipeline="readings")
    assert repr(source) == "HttpSource('http://h/x?apikey=***', method='GET', pipeline='readings')"


def test_error_pickles() -> None:
    error = HttpRequestError("boom", "readings", "GET", "http://h/x", 503, 3)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.pipeline, copy.status_code, copy.attempts) == (
        "boom",
        "readings",
        503,
        3,
    )
