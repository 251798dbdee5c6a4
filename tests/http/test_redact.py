"""Credentials never show: URLs, headers, text, log records, and what the HTTP classes log."""

from __future__ import annotations

import logging
import re
import traceback

import pytest

from weirflow._redact import (
    RedactingFilter,
    parse_rules,
    redact_headers,
    redact_text,
    redact_url,
)
from weirflow.connectors.http import HttpRequestError, HttpSender, HttpSource
from weirflow.testing import LocalHTTPServer, Response


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/x?apikey=abc", "http://h/x?apikey=***"),
        ("http://h/x?api_key=abc&api-key=d", "http://h/x?api_key=***&api-key=***"),
        (
            "http://h/x?key=abc&token=t&access_token=a",
            "http://h/x?key=***&token=***&access_token=***",
        ),
        (
            "http://h/x?password=p&secret=s&signature=g",
            "http://h/x?password=***&secret=***&signature=***",
        ),
        (
            "http://h/x?auth=a&X-Api-Key=b&client_secret=c",
            "http://h/x?auth=***&X-Api-Key=***&client_secret=***",
        ),
        ("http://h/x?APIKEY=abc&Token=t", "http://h/x?APIKEY=***&Token=***"),
        ("http://h/x?city=Oslo&limit=5", "http://h/x?city=Oslo&limit=5"),
        ("http://h/x?apikey=a&apikey=b&n=1", "http://h/x?apikey=***&apikey=***&n=1"),
        ("http://h/x?api%5Fkey=abc", "http://h/x?api%5Fkey=***"),
        ("http://h/x?flag&apikey=", "http://h/x?flag&apikey=***"),
        ("https://bob:hunter2@h:8443/x", "https://***@h:8443/x"),
        ("https://TOKEN@h/x", "https://***@h/x"),
        ("https://sk_live_1:@h/x", "https://***@h/x"),
        ("https://bob:p@ss:w@h/x", "https://***@h/x"),
        ("postgresql://app:pw@db/x", "postgresql://app:***@db/x"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=***&state=1"),
        ("https://h/page#section-2", "https://h/page#section-2"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_keeps_an_unchanged_url_as_written() -> None:
    url = "http://h/a%20b?q=%C3%A9&x=1+2"
    assert redact_url(url) is url


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "Set-Cookie",
        "X-Api-Key",
        "apikey",
        "APIKEY",
        "X-Auth-Token",
        "X-Secret",
        "db-password",
        "Private-Key",
    ],
)
def test_redact_headers_masks(name: str) -> None:
    assert redact_headers({name: "value", "Accept": "*/*"}) == {name: "***", "Accept": "*/*"}


def test_redact_headers_keeps_the_rest() -> None:
    headers = {"Accept": "application/json", "Content-Type": "text/plain", "X-Request-Id": "1"}
    assert redact_headers(headers) == headers


def test_redact_text() -> None:
    text = "key a/b+c in /x?k=a%2Fb%2Bc and a/b+c, a%2Fb%2Bc, empty ''"
    assert redact_text(text, ["a/b+c", ""]) == "key *** in /x?k=*** and ***, ***, empty ''"
    assert redact_text("nothing", []) == "nothing"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, exc_info)


def test_filter_masks_urls_in_message_and_arguments() -> None:
    record = _record("polling %s and %r", "http://h/x?apikey=abc", {"u": "https://u:pw@h/"})
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "polling http://h/x?apikey=*** and {'u': 'https://***@h/'}"


def test_filter_masks_known_secrets_and_tracebacks() -> None:
    try:
        raise ValueError("bad token tok-123 at http://h/?token=tok-123")
    except ValueError as error:
        record = _record("failed with tok-123", exc=error)
    assert RedactingFilter(secrets=["tok-123"]).filter(record)
    assert record.getMessage() == "failed with ***"
    assert record.exc_text is not None
    assert "tok-123" not in record.exc_text
    assert "ValueError: bad token *** at http://h/?token=***" in record.exc_text


def test_filter_respects_its_name() -> None:
    record = _record("http://h/?apikey=abc")
    assert not RedactingFilter("other").filter(record)
    assert record.getMessage() == "http://h/?apikey=abc"


def test_filter_on_a_handler(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactingFilter(secrets=["s3cret"]))
    try:
        logging.getLogger("weirflow.demo").warning("GET %s with key s3cret", "http://h/?key=s3cret")
    finally:
        caplog.handler.filters.clear()
    assert "s3cret" not in caplog.text
    assert "GET http://h/?key=*** with key ***" in caplog.text


# -- what the HTTP classes log and raise -----------------------------------------------------

APIKEY = "custom_key_1234"


def test_source_never_logs_the_apikey(
    server: LocalHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.route("GET", "/numbers", {"value": 1}, statuses=[503, 503, 500])
    source = HttpSource(
        f"{server.url}/numbers?apikey={APIKEY}",
        headers={"apikey": APIKEY, "Authorization": f"Bearer {APIKEY}"},
        params={"token": APIKEY},
        retries=1,
        backoff=0.01,
        pipeline="readings",
    )
    try:
        with pytest.raises(HttpRequestError) as caught:
            source.read({})
        assert list(source.read({})) == [{"value": 1}]  # 500, then the answer
    finally:
        source.close()
    assert server.requests[0].query == {"apikey": APIKEY, "token": APIKEY}  # it was sent
    messages = [record.getMessage() for record in caplog.records]
    assert any("pipeline 'readings'" in m and "apikey=***" in m for m in messages)
    assert APIKEY not in caplog.text
    shown = "".join(traceback.format_exception(caught.value))  # the cause's message included
    assert "apikey=***&token=***" in shown
    assert APIKEY not in shown
    assert APIKEY not in repr(source)


def test_sender_never_logs_credentials(closed_port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sender = HttpSender(
        f"http://svc:{APIKEY}@127.0.0.1:{closed_port}/reports?signature={APIKEY}",
        headers={"X-Api-Key": APIKEY},
        retries=1,
        backoff=0.01,
        pipeline="reports",
    )
    try:
        with pytest.raises(HttpRequestError) as caught:
            sender.send({"summary": 1})
    finally:
        sender.close()
    assert caplog.records  # the retry was logged
    assert APIKEY not in caplog.text
    assert APIKEY not in "".join(traceback.format_exception(caught.value))
    assert "http://***@127.0.0.1" in str(caught.value)


def test_an_error_body_echoing_a_secret_is_masked(server: LocalHTTPServer) -> None:
    server.route("GET", "/n", lambda request: Response(401, f"bad key {request.headers['apikey']}"))
    source = HttpSource(f"{server.url}/n", headers={"apikey": APIKEY}, pipeline="readings")
    try:
        with pytest.raises(HttpRequestError, match=r"401 Unauthorized: bad key \*\*\*") as caught:
            source.read({})
    finally:
        source.close()
    assert APIKEY not in str(caught.value)


def test_filter_masks_secret_headers_in_httpcore_traces() -> None:
    trace = (
        "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', "
        "[(b'Content-Type', b'application/json'), (b'Set-Cookie', b'session=abc123'), "
        "(b'X-Auth-Token', b'tok456')])"
    )
    record = _record(trace)
    assert RedactingFilter().filter(record)
    message = record.getMessage()
    assert "abc123" not in message
    assert "tok456" not in message
    assert "(b'Set-Cookie', b'***')" in message
    assert "(b'Content-Type', b'application/json')" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://h/x?appid=a&accessKey=b&auth_code=c",
            "http://h/x?appid=***&accessKey=***&auth_code=***",
        ),
        ("http://h/x?code=a&passphrase=b&jwt=c", "http://h/x?code=***&passphrase=***&jwt=***"),
        ("http://h/x?session=a&sessionId=b&sig=c", "http://h/x?session=***&sessionId=***&sig=***"),
        ("http://h/x?zipcode=1&units=metric&q=Oslo", "http://h/x?zipcode=1&units=metric&q=Oslo"),
        ("https://api.telegram.org/bot12:AB-c_d/getMe", "https://api.telegram.org/bot***/getMe"),
        ("https://h/bottles/12", "https://h/bottles/12"),
    ],
)
def test_names_and_paths_by_pattern(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_user_rules() -> None:
    rules = parse_rules(["city", "/hooks/*/*", re.compile(r"/v1/(\w+)/data"), "X-Tenant"])
    url = "https://h/hooks/T1/B2/v1/k3y/data?city=Oslo&q=1"
    assert redact_url(url, rules) == "https://h/hooks/***/***/v1/***/data?city=***&q=1"
    assert redact_url(url) == url  # only where given
    assert redact_headers({"x-tenant": "acme", "Accept": "*/*"}, rules) == {
        "x-tenant": "***",
        "Accept": "*/*",
    }
    assert parse_rules("city") == parse_rules(["city"])
    with pytest.raises(ValueError, match="no '\\*'"):
        parse_rules(["/hooks/plain"])
    with pytest.raises(ValueError, match="got 3"):
        parse_rules([3])
