"""A planted secret of every form never shows: not in any log level, repr, error or CLI output.

The forms: query parameters by pattern (``appid``, camelCase ``accessKey``, ``auth_code``,
``code``, ``passphrase``, ``jwt``, ``session``), a token as the URL's user name, a token in the
path (Telegram's ``/bot<token>/``), and names and path templates the user adds (``redact=``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

import pytest

from weirflow.connectors.http import HttpRequestError, HttpSender, HttpSource
from weirflow.testing import LocalHTTPServer

SRC = str(Path(__file__).resolve().parents[2] / "src")

SECRETS = {
    "appid": "appid-5ecret-0001",
    "accessKey": "accesskey-5ecret-0002",
    "auth_code": "authcode-5ecret-0003",
    "code": "code-5ecret-0004",
    "passphrase": "passphrase-5ecret-0005",
    "jwt": "eyJhbGciOi.jwt-5ecret-0006",
    "session": "session-5ecret-0007",
    "city": "city-5ecret-0008",  # a name the user adds
}
USER_TOKEN = "usertoken5ecret0009"
BOT_TOKEN = "123456789:AAbot-5ecret_0010"
HOOK = "hook-5ecret-0011"  # a path part the user adds ("/hooks/*")
EVERY_SECRET = [*SECRETS.values(), USER_TOKEN, BOT_TOKEN, BOT_TOKEN.split(":")[1], HOOK]
REDACT = ["city", "/hooks/*"]


def query() -> str:
    return "&".join(f"{name}={value}" for name, value in SECRETS.items())


def planted(base: str, path: str) -> str:
    """``base``'s URL with the user token, ``path`` and every secret parameter."""
    scheme, _, host = base.partition("://")
    return f"{scheme}://{USER_TOKEN}@{host}{path}?{query()}&units=metric"


def leaks(text: str) -> list[str]:
    return [secret for secret in EVERY_SECRET if secret in text]


def shown(error: BaseException) -> str:
    return str(error) + "\n" + "".join(traceback.format_exception(error))


def test_no_form_of_secret_leaks_from_the_http_classes(
    server: LocalHTTPServer, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "weirflow"):
        caplog.set_level(logging.DEBUG, logger=name)
    server.route("GET", "/data", {"temperature": 3})
    server.route("GET", "/flaky", {"never": True}, statuses=[503, 503])
    server.route("GET", f"/bot{BOT_TOKEN}/getMe", {"ok": True})
    server.route("POST", f"/bot{BOT_TOKEN}/sendMessage", {"ok": False}, statuses=[500, 500])
    server.route("POST", f"/hooks/{HOOK}/in", {"ok": True})
    texts: list[str] = []
    objects: list[Any] = [
        HttpSource(planted(server.url, "/data"), redact=REDACT, pipeline="weather"),
        HttpSource(planted(server.url, "/flaky"), redact=REDACT, retries=1, backoff=0.01),
        HttpSource(planted(server.url, f"/bot{BOT_TOKEN}/getMe"), redact=REDACT),
        HttpSender(
            planted(server.url, f"/bot{BOT_TOKEN}/sendMessage"),
            redact=REDACT,
            retries=1,
            backoff=0.01,
        ),
        HttpSender(f"{server.url}/hooks/{HOOK}/in", redact=REDACT),
        HttpSource(
            planted(f"http://127.0.0.1:{closed_port}", "/data"),
            redact=REDACT,
            retries=1,
            backoff=0.01,
        ),
    ]
    try:
        for item in objects:
            texts.append(repr(item))
            try:
                if isinstance(item, HttpSource):
                    item.read({})
                else:
                    item.send({"text": "hello"})
            except HttpRequestError as error:
                texts.append(shown(error))
                texts.append(error.url)
    finally:
        for item in objects:
            item.close()
    sent = server.requests[0]
    assert sent.query["appid"] == SECRETS["appid"]  # the secrets did go out
    assert any(r.path == f"/hooks/{HOOK}/in" for r in server.requests)
    assert "HTTP Request: GET" in caplog.text  # httpx's INFO line was captured
    assert any(r.levelno == logging.WARNING for r in caplog.records)  # retries were logged
    assert any("traceback" in r.getMessage() for r in caplog.records)  # DEBUG tracebacks too
    assert len(texts) == 6 + 2 * 3  # six reprs, three errors (flaky, sendMessage, refused)
    levels = {r.levelname for r in caplog.records}
    assert {"DEBUG", "INFO", "WARNING"} <= levels
    everything = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records), *texts])
    assert leaks(everything) == []
    assert "appid=***" in everything
    assert "/bot***/sendMessage" in everything
    assert "/hooks/***/in" in everything
    assert f"http://***@127.0.0.1:{closed_port}/data?" in everything


SERVICE = """
from weirflow import FlowBuilder

builder = FlowBuilder()
builder.add_pipeline("weather", timedelta_seconds=60) \\
    .with_http_connector({source!r}, retries=1, redact={redact!r}) \\
    .send("http_post", destination={destination!r}, redact={redact!r})
"""


def _cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "weirflow", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    return done.returncode, done.stdout + done.stderr


def test_no_form_of_secret_leaks_from_the_cli(tmp_path: Path, closed_port: int) -> None:
    base = f"http://127.0.0.1:{closed_port}"
    service = tmp_path / "service.py"
    service.write_text(
        textwrap.dedent(
            SERVICE.format(
                source=planted(base, f"/bot{BOT_TOKEN}/getUpdates"),
                destination=f"{base}/hooks/{HOOK}/in",
                redact=REDACT,
            )
        )
    )
    code, checked = _cli(tmp_path, "check", str(service))
    assert code == 0, checked
    assert "weather" in checked
    assert leaks(checked) == []
    code, ran = _cli(tmp_path, "run", str(service), "--log-level", "DEBUG")
    assert code == 1, ran  # the connection is refused: the pipeline fails
    assert "ConnectError" in ran
    assert leaks(ran) == []
