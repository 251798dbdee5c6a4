"""The HTTP package as users see it: where its names live, its retry policy, its option checks."""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Iterator
from typing import Any

import pytest

import weirflow
from weirflow import ConfigError, FlowBuilder, Retry
from weirflow.connectors.http import (
    HttpBodyTooLargeError,
    HttpDeadlineError,
    HttpDecodeError,
    HttpRequestError,
    HttpSender,
    HttpSource,
    Requester,
)
from weirflow.testing import LocalHTTPServer, Response

URL = "http://127.0.0.1:9/x"

# -- where the names live ---------------------------------------------------------------------


def test_both_directions_and_the_errors_live_in_one_package() -> None:
    from weirflow.senders.http import HttpSender as ReExported

    assert ReExported is HttpSender
    for error in (HttpDecodeError, HttpBodyTooLargeError, HttpDeadlineError):
        assert issubclass(error, HttpRequestError)
    assert issubclass(HttpRequestError, weirflow.WeirflowError)
    package = importlib.import_module("weirflow.connectors.http")
    assert "HttpSender" in str(package.__doc__)


@pytest.mark.parametrize("old", ["weirflow._http", "weirflow._httpbody", "weirflow._httpoptions"])
def test_the_old_private_modules_are_gone(old: str) -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_the_http_sender_kinds_make_the_package_sender() -> None:
    from weirflow.senders import create_sender

    sender = create_sender("http_put", pipeline="p", options={"destination": URL})
    try:
        assert isinstance(sender, HttpSender)
        assert sender.method == "PUT"
    finally:
        sender.close()


# -- the retry policy is a weirflow.Retry ------------------------------------------------------


def test_retries_and_backoff_map_onto_a_capped_retry() -> None:
    source = HttpSource(URL, retries=10, backoff=1)
    try:
        assert source._http.retry == Retry(attempts=11, backoff=1.0, cap=30.0)
        assert [source._http.retry.delay(n) for n in (1, 5, 6, 10)] == [1.0, 16.0, 30.0, 30.0]
    finally:
        source.close()


def test_a_backoff_longer_than_the_cap_is_kept_for_the_first_wait() -> None:
    sender = HttpSender(URL, retries=3, backoff=60)
    try:
        assert [sender._http.retry.delay(n) for n in (1, 2, 3)] == [60.0, 60.0, 60.0]
    finally:
        sender.close()


def test_the_defaults_are_two_retries_half_a_second_apart() -> None:
    source = HttpSource(URL)
    try:
        assert source._http.retry == Retry(attempts=3, backoff=0.5, cap=30.0)
    finally:
        source.close()


def test_a_retry_given_as_retries_drives_the_retry_loop(
    server: LocalHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("GET", "/flaky", {"ok": True}, statuses=[503, 503, 503])
    policy = Retry(attempts=4, backoff=0.01, cap=0.02)
    source = HttpSource(f"{server.url}/flaky", retries=policy, pipeline="feed")
    try:
        with caplog.at_level(logging.WARNING, logger="weirflow.http"):
            assert list(source.read({})) == [{"ok": True}]
    finally:
        source.close()
    assert len(server.requests) == 4
    waits = [record.getMessage().rpartition(" in ")[2] for record in caplog.records]
    assert waits == ["0.01 s", "0.02 s", "0.02 s"]  # doubled, then capped
    assert "retry 3 of 3" in caplog.records[-1].getMessage()


def test_a_retry_value_gives_up_after_its_attempts(server: LocalHTTPServer) -> None:
    server.route("POST", "/in", Response(503))
    sender = HttpSender(f"{server.url}/in", retries=Retry(attempts=2, backoff=0), pipeline="out")
    try:
        with pytest.raises(HttpRequestError, match=r"after 2 attempts") as caught:
            sender.send({"n": 1})
    finally:
        sender.close()
    assert caught.value.attempts == 2
    assert len(server.requests) == 2


def one_item() -> Iterator[dict[str, int]]:
    yield {"n": 1}


def test_send_takes_a_retry_as_the_senders_retries(server: LocalHTTPServer) -> None:
    server.route("POST", "/in", Response(201), statuses=[503])
    builder = FlowBuilder()
    builder.add_pipeline("p").with_core_logic(one_item).send(
        "http_post", destination=f"{server.url}/in", retries=Retry(attempts=2, backoff=0)
    )
    builder.build().launch_flow(execution_seconds=30)
    assert [request.json for request in server.requests] == [{"n": 1}, {"n": 1}]


def test_the_connector_takes_a_retry_as_its_retries(server: LocalHTTPServer) -> None:
    server.route("GET", "/n", {"n": 7}, statuses=[503, 503])
    got: list[Any] = []
    builder = FlowBuilder()
    builder.add_pipeline("p").with_http_connector(
        f"{server.url}/n", retries=Retry(attempts=3, backoff=0)
    ).send(got.append)
    builder.build().launch_flow(execution_seconds=30)
    assert got == [{"n": 7}]
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": "3"}, r"retries=\.\.\.\): give a whole number .* or a weirflow.Retry"),
        ({"retries": Retry(attempts=2), "backoff": 1}, r"backoff=\.\.\.\): the Retry given"),
    ],
)
def test_bad_retry_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HttpSource(URL, pipeline="feed", **options)
    with pytest.raises(ConfigError, match=message):
        HttpSender(URL, pipeline="feed", **options)


# -- numbers given directly are checked as the builder checks them ------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": math.inf}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": 1e300}, "timeout"),
        ({"backoff": 1e12}, "backoff"),
        ({"backoff": math.nan}, "backoff"),
        ({"deadline_seconds": 1e300}, "deadline_seconds"),
        ({"retries": 10**6}, "retries"),
        ({"retries": True}, "retries"),
    ],
)
def test_absurd_numbers_given_directly_are_config_errors(
    options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError, match=rf"pipeline 'feed': with_http_connector\({field}="):
        HttpSource(URL, pipeline="feed", **options)
    with pytest.raises(ConfigError, match=rf"pipeline 'feed': send\('http_post', {field}="):
        HttpSender(URL, pipeline="feed", **options)
    with pytest.raises(ConfigError, match=rf"{field}"):
        Requester(weirflow.connectors.http.Site("feed"), **options)


@pytest.mark.parametrize("method", [3, None, b"GET"])
def test_a_non_string_method_with_configuration_is_a_config_error(method: Any) -> None:
    with pytest.raises(ConfigError, match=r"with_http_connector\(method=\.\.\.\).*must be one of"):
        HttpSource(URL, configuration="post", method=method, pipeline="feed")
