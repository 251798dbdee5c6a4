"""What each stage of a flow talks to, for ``weirflow check``, and one try of each (``--connect``).

:func:`describe_flow` prints the pipelines and stages with their targets (URL, path, table,
topic, destination, stream), credentials masked. :func:`probe_flow` tries each source, storage
and sender once and says which are reachable: an HTTP source makes one real request (its
answer is dropped), a SQL storage connects and runs ``SELECT 1`` (credentials and database are
checked), a file storage needs a writable folder, HTTP senders get a TCP connection (nothing is
sent) and MQTT brokers an MQTT connection with the stage's credentials and TLS (nothing is
published, nothing subscribed). Streams and functions live in the flow's process:
there is nothing to reach.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._redact import Redaction, parse_rules, redact_url, redact_urls_in
from .._registry import Recipe
from ._lazy import Lazy
from ._stages import StageDef

if TYPE_CHECKING:
    from ._flow import Flow

PROBE_TIMEOUT_SECONDS = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443, "mqtt": 1883, "mqtts": 8883}


def describe_flow(flow: Flow) -> str:
    """The flow's pipelines, their stages and what each stage talks to (redacted)."""
    mode = "threads" if flow.use_threads else "processes"
    lines = [f"flow with {len(flow.pipelines)} pipeline(s), run in {mode}"]
    lines.extend(pipeline.describe(stage_target) for pipeline in flow.pipelines)
    return "\n".join(lines)


def stage_target(stage: StageDef) -> str:
    """What ``stage`` talks to (``"http://host/path"``, ``"path 'x.json'"``...), or ``""``."""
    lazy = stage.source or stage.storage or stage.sender
    if lazy is None:
        return ""
    options = _options(lazy)
    rules = _rules(options)
    if "instance" in options:
        return redact_urls_in(repr(options["instance"]), rules)
    parts: list[str] = []
    broker = _broker(stage, options)
    if broker is not None:
        parts.append(f"broker {broker[0]}:{broker[1]}")
    else:
        for key in ("source", "destination", "url", "api_url"):
            value = options.get(key)
            if isinstance(value, str):
                parts.append(redact_url(value, rules))
            elif callable(value):
                parts.append(f"URL from {getattr(value, '__name__', 'a function')}()")
    if "configuration" in options:
        parts.append(f"parameters from the configuration {options['configuration']!r}")
    stream = getattr(lazy.factory, "__name__", "") in ("StreamSource", "StreamSender")
    for key in ("table", "path", "topic", "name", "dag_id"):
        value = options.get(key)
        if value is not None and not callable(value):
            shown = value if isinstance(value, str) else ", ".join(map(str, value))
            parts.append(f"{'stream' if key == 'name' and stream else key} {shown!r}")
    return ", ".join(parts)


def _broker(stage: StageDef, options: dict[str, Any]) -> tuple[str, int] | None:
    """The MQTT broker a source or sender talks to, if it is one."""
    if options.get("kind") == "mqtt":
        host = options.get("destination", "localhost")
    elif stage.continuous and "port" in options and "source" in options:
        host = options["source"]
    else:
        return None
    port = options.get("port") or (8883 if options.get("tls") else 1883)
    return str(host), int(port)


def _rules(options: dict[str, Any]) -> Redaction | None:
    """The stage's own ``redact=[...]`` names and path templates, if it has any."""
    return parse_rules(options["redact"]) if options.get("redact") else None


def _options(lazy: Lazy[Any]) -> dict[str, Any]:
    options = dict(lazy.options)
    if isinstance(lazy.factory, Recipe):  # a registered kind: its name, as create_* have it
        options["kind"] = lazy.factory.name
    nested = options.pop("options", None)
    if isinstance(nested, dict):
        options.update(nested)
    return options


# -- --connect ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """One try of one stage's target."""

    stage: str  #: ``pipeline.stage``
    target: str  #: what was tried, redacted
    reachable: bool | None  #: ``None``: nothing to try (a stream, a function)
    detail: str  #: why not, or what was checked

    def line(self) -> str:
        state = {True: "reachable", False: "UNREACHABLE", None: "not tried"}[self.reachable]
        return f"{self.stage}: {state}: {self.target or '-'} ({self.detail})"


def probe_flow(flow: Flow) -> list[ProbeResult]:
    """Try each source, storage and sender of ``flow`` once."""
    results = []
    for pipeline in flow.pipelines:
        for stage in pipeline.stages:
            lazy = stage.source or stage.storage or stage.sender
            if lazy is None:
                continue
            name = f"{pipeline.name}.{stage.label}"
            try:
                reachable, detail = _probe(stage, lazy)
            except Exception as error:  # the probe's own failure is a finding, not a crash
                message = f"{type(error).__name__}: {error}"
                reachable, detail = False, redact_urls_in(message, _rules(_options(lazy)))
            results.append(ProbeResult(name, stage_target(stage), reachable, detail))
    return results


def _probe(stage: StageDef, lazy: Lazy[Any]) -> tuple[bool | None, str]:
    options = _options(lazy)
    kind = options.get("kind")
    factory = getattr(lazy.factory, "__name__", "")
    if "instance" in options or callable(kind) or factory in ("StreamSource", "StreamSender"):
        return None, "runs in the flow's process: nothing to reach"
    if factory == "HttpSource":
        if callable(options.get("source")) or "configuration" in options:
            return None, "its URL or parameters are made at run time"
        return _try_http_source(lazy)
    broker = _broker(stage, options)
    if broker is not None:
        return _try_mqtt(*broker, options)
    url = options.get("url") or options.get("destination") or options.get("api_url")
    if isinstance(url, str) and kind == "sql":
        return _try_sql(url)
    if isinstance(url, str) and "://" in url:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)
        return _try_tcp(parts.hostname or "localhost", port)
    if isinstance(options.get("path"), str):
        return _try_folder(Path(options["path"]))
    return None, "nothing known to try"


def _try_http_source(lazy: Lazy[Any]) -> tuple[bool, str]:
    source = Lazy(lazy.factory, **{**lazy.options, "retries": 0}).get()
    try:
        items = list(source.read({}))
    finally:
        source.close()
    return True, f"one request answered ({len(items)} body)"


def _try_sql(url: str) -> tuple[bool, str]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args=_sql_timeout(url))
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    finally:
        engine.dispose()
    return True, "connected, SELECT 1 answered"


def _sql_timeout(url: str) -> dict[str, Any]:
    scheme = url.partition(":")[0]
    if scheme.startswith("postgresql"):
        return {"connect_timeout": int(PROBE_TIMEOUT_SECONDS)}
    return {}


def _try_mqtt(host: str, port: int, options: dict[str, Any]) -> tuple[bool, str]:
    """Connect with the stage's credentials and TLS, a fresh client id, and disconnect."""
    from .._checks import Where
    from ..connectors.mqtt._client import new_client, start_network, stop_network
    from ..connectors.mqtt._options import MqttOptions

    broker = MqttOptions(
        host,
        port,
        username=options.get("username"),
        password=options.get("password"),
        tls=options.get("tls"),
        where=Where(str(options.get("pipeline"))),
    )
    client = new_client(broker, reconnect_on_failure=False)
    answered = threading.Event()
    reasons: list[Any] = []

    def on_connect(*arguments: Any) -> None:
        reasons.append(arguments[3])  # client, userdata, flags, reason code, properties
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError as error:
        return False, f"{host}:{port}: {error.strerror or error}"
    thread = start_network(client, "weirflow check --connect")
    try:
        answered.wait(PROBE_TIMEOUT_SECONDS)
    finally:
        stop_network(client, thread)
    if not reasons:
        return False, f"{host}:{port}: no answer to CONNECT within {PROBE_TIMEOUT_SECONDS:g}s"
    if reasons[0].is_failure:
        return False, f"{host}:{port}: the broker refused the connection: {reasons[0]}"
    return True, f"MQTT connection to {host}:{port} accepted (nothing published)"


def _try_tcp(host: str, port: int) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        return False, f"{host}:{port}: {error.strerror or error}"
    return True, f"TCP connection to {host}:{port} accepted (nothing sent)"


def _try_folder(path: Path) -> tuple[bool, str]:
    folder = path.resolve().parent
    while not folder.exists():  # the storage creates missing folders
        folder = folder.parent
    if path.exists() and not os.access(path, os.W_OK):
        return False, f"{path} is not writable"
    if not os.access(folder, os.W_OK | os.X_OK):
        return False, f"folder {folder} is not writable"
    return True, f"{'file' if path.exists() else 'folder'} writable"
