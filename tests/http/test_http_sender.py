"""HttpSender, FunctionSender and create_sender: bodies, labels, failures, the kind registry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from weirflow import ConfigError, InvalidCallableError
from weirflow.abc import Sender
from weirflow.connectors.http import HttpRequestError, HttpSender
from weirflow.senders import SENDERS, PayloadError, create_sender, register_sender
from weirflow.senders.function import FunctionSender
from weirflow.testing import LocalHTTPServer, Response


@pytest.fixture
def make_sender() -> Iterator[Any]:
    made: list[HttpSender] = []

    def make(destination: str, **options: Any) -> HttpSender:
        options.setdefault("backoff", 0.01)
        options.setdefault("pipeline", "reports")
        made.append(HttpSender(destination, **options))
        return made[-1]

    yield make
    for sender in made:
        sender.close()


ITEM = {"summary": {"mean": 4.5, "count": 2}, "raw": [4, 5]}


def test_post_label_to_send(server: LocalHTTPServer, make_sender: Any) -> None:
    server.route("POST", "/reports", Response(201))
    sender = make_sender(f"{server.url}/reports", label_to_send="summary")
    sender.send(ITEM)
    (request,) = server.requests
    assert request.method == "POST"
    assert request.json == {"mean": 4.5, "count": 2}
    assert request.headers["content-type"] == "application/json"


def test_put_whole_item(server: LocalHTTPServer, make_sender: Any) -> None:
    server.route("PUT", "/state", {"ok": True})
    sender = make_sender(f"{server.url}/state", method="PUT", headers={"x-api-key": "k"})
    sender.send(ITEM)
    (request,) = server.requests
    assert (request.method, request.json, request.headers["x-api-key"]) == ("PUT", ITEM, "k")


def test_non_json_values_are_sent_as_json(server: LocalHTTPServer, make_sender: Any) -> None:
    server.route("POST", "/r", Response(204))
    sender = make_sender(f"{server.url}/r")
    for item in ["text", 3, None, [1, "é"]]:
        sender.send(item)
    assert [r.json for r in server.requests] == ["text", 3, None, [1, "é"]]


def test_bytes_are_sent_as_they_are(server: LocalHTTPServer, make_sender: Any) -> None:
    server.route("POST", "/blob", Response(202))
    make_sender(f"{server.url}/blob").send(b"\x00\x01")
    (request,) = server.requests
    assert (request.body, request.headers["content-type"]) == (
        b"\x00\x01",
        "application/octet-stream",
    )


def test_own_content_type_is_kept(server: LocalHTTPServer, make_sender: Any) -> None:
    server.route("POST", "/r", Response(200))
    sender = make_sender(f"{server.url}/r", headers={"Content-Type": "application/vnd.x+json"})
    sender.send({"a": 1})
    assert server.requests[0].headers["content-type"] == "application/vnd.x+json"


def test_5xx_is_retried_then_succeeds(server: LocalHTTPServer, make_sender: Any) -> None:
    server.route("POST", "/r", Response(201), statuses=[500, 503])
    make_sender(f"{server.url}/r", retries=2).send(ITEM)
    assert len(server.requests) == 3


def test_non_2xx_after_the_retries_is_an_error(server: LocalHTTPServer, make_sender: Any) -> None:
    server.route("POST", "/r", Response(500, {"error": "disk full"}))
    sender = make_sender(f"{server.url}/r?token=s3cr3t", retries=1)
    with pytest.raises(HttpRequestError) as caught:
        sender.send(ITEM)
    error = caught.value
    assert len(server.requests) == 2
    assert (error.status_code, error.attempts, error.method) == (500, 2, "POST")
    assert str(error).startswith("pipeline 'reports': POST http://127.0.0.1:")
    assert "token=***" in str(error)
    assert "disk full" in str(error)
    assert "s3cr3t" not in str(error)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)


@pytest.mark.parametrize("status", [301, 400, 409, 413])
def test_other_answers_are_errors_without_retry(
    server: LocalHTTPServer, make_sender: Any, status: int
) -> None:
    server.route("POST", "/r", Response(status, headers={"location": "/elsewhere"}))
    with pytest.raises(HttpRequestError, match=f"answered {status}"):
        make_sender(f"{server.url}/r", retries=3).send(ITEM)
    assert len(server.requests) == 1


def test_connection_refused(closed_port: int, make_sender: Any) -> None:
    sender = make_sender(f"http://127.0.0.1:{closed_port}/r", retries=1)
    with pytest.raises(HttpRequestError, match=r"after 2 attempts.*ConnectError") as caught:
        sender.send(ITEM)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_missing_label(make_sender: Any) -> None:
    sender = make_sender("http://127.0.0.1:9/r", label_to_send="summary")
    with pytest.raises(PayloadError, match=r"pipeline 'reports'.*no key 'summary'.*'raw'"):
        sender.send({"raw": 1})
    with pytest.raises(PayloadError, match=r"label_to_send='summary' needs items that are dicts"):
        sender.send([1, 2])


def test_item_that_is_not_json(make_sender: Any) -> None:
    sender = make_sender("http://127.0.0.1:9/r")
    with pytest.raises(PayloadError, match=r"pipeline 'reports'.*cannot send datetime as JSON"):
        sender.send(datetime(2024, 1, 1))
    with pytest.raises(PayloadError, match="as JSON"):
        sender.send(float("nan"))


@pytest.mark.parametrize(
    ("options", "field", "fix"),
    [
        ({"destination": "localhost:8026/r"}, "destination", "http:// or https://"),
        ({"method": "GET"}, "method", "POST, PUT, PATCH"),
        ({"timeout": -1}, "timeout", "> 0"),
        ({"retries": -2}, "retries", ">= 0"),
        ({"label_to_send": 3}, "label_to_send", "key of the items"),
        ({"headers": "apikey: x"}, "headers", "dict of strings"),
    ],
)
def test_validation(options: dict[str, Any], field: str, fix: str) -> None:
    options = {"destination": "http://localhost:8026/r", **options}
    with pytest.raises(ConfigError) as caught:
        HttpSender(pipeline="reports", **options)
    message = str(caught.value)
    assert message.startswith("pipeline 'reports': send('http_")
    assert f"{field}=...): " in message
    assert fix in message


# -- create_sender ---------------------------------------------------------------------------


def test_create_http_senders(server: LocalHTTPServer) -> None:
    server.route("POST", "/r", Response(200))
    server.route("PUT", "/r", Response(200))
    for kind, method in [("http_post", "POST"), ("http_put", "PUT")]:
        sender = create_sender(
            kind,
            pipeline="reports",
            options={"destination": f"{server.url}/r", "label_to_send": "summary"},
        )
        assert isinstance(sender, HttpSender)
        sender.send(ITEM)
        sender.close()
        assert server.requests[-1].method == method
        assert server.requests[-1].json == ITEM["summary"]


def test_create_sender_without_destination() -> None:
    with pytest.raises(ConfigError, match=r"pipeline 'reports': send\('http_post'\).*destination="):
        create_sender("http_post", pipeline="reports", options={"label_to_send": "x"})


def test_create_sender_unknown_option() -> None:
    with pytest.raises(ConfigError, match=r"unknown option.*topic.*it takes.*destination"):
        create_sender("http_put", pipeline="p", options={"destination": "http://h/", "topic": 1})


def test_create_sender_unknown_kind() -> None:
    with pytest.raises(ConfigError) as caught:
        create_sender("carrier_pigeon", pipeline="reports")
    message = str(caught.value)
    assert "pipeline 'reports'" in message
    assert "'http_post', 'http_put'" in message


def test_create_sender_from_a_sender_instance() -> None:
    class Mine(Sender):
        def send(self, item: Any) -> None:
            pass

    mine = Mine()
    assert create_sender(mine, pipeline="p") is mine
    with pytest.raises(ConfigError, match="takes no options"):
        create_sender(mine, pipeline="p", options={"destination": "x"})


def test_create_sender_from_a_function() -> None:
    seen: list[Any] = []
    sender = create_sender(seen.append, pipeline="p", options={"label_to_send": "summary"})
    assert isinstance(sender, FunctionSender)
    sender.send(ITEM)
    assert seen == [ITEM["summary"]]
    with pytest.raises(ConfigError, match="unknown option"):
        create_sender(seen.append, pipeline="p", options={"destination": "x"})


def test_create_sender_from_something_else() -> None:
    with pytest.raises(ConfigError, match="takes a kind"):
        create_sender(42, pipeline="p")  # type: ignore[arg-type]


def test_register_a_new_kind() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def factory(*, pipeline: str, **options: Any) -> Sender:
        seen.append(("amqp", pipeline, options))
        return FunctionSender(print, pipeline=pipeline)

    register_sender("amqp", factory)
    try:
        with pytest.raises(ValueError, match="registered already"):
            register_sender("amqp", factory)
        register_sender("amqp", factory, replace=True)
        sender = create_sender("amqp", pipeline="p", options={"topic": "t"})
        assert isinstance(sender, FunctionSender)
        assert seen == [("amqp", "p", {"topic": "t"})]
    finally:
        del SENDERS["amqp"]


def test_a_factory_must_make_a_sender() -> None:
    register_sender("broken", lambda **options: object())
    try:
        with pytest.raises(ConfigError, match="returned object, not a Sender"):
            create_sender("broken", pipeline="p")
    finally:
        del SENDERS["broken"]


# -- FunctionSender --------------------------------------------------------------------------


def test_function_sender_errors_propagate() -> None:
    def deliver(item: Any) -> None:
        raise OSError("queue full")

    with pytest.raises(OSError, match="queue full"):
        FunctionSender(deliver).send(1)


def test_function_sender_awaits_an_async_function() -> None:
    sent: list[Any] = []

    async def deliver(item: Any) -> None:
        sent.append(item)

    FunctionSender(deliver, pipeline="p").send(1)
    assert sent == [1]


def test_function_sender_checks_the_function() -> None:
    with pytest.raises(InvalidCallableError, match="no positional parameter"):
        FunctionSender(lambda: None, pipeline="p")  # type: ignore[arg-type,misc]
    with pytest.raises(InvalidCallableError, match="needs a function"):
        FunctionSender("print", pipeline="p")  # type: ignore[arg-type]
