"""The builder under fuzzing: any configuration builds or raises ConfigError, never anything else.

Hypothesis draws whole flows: a ``FlowBuilder``, pipelines with schedules, then connectors, core
logic, storages and senders, each argument either a sensible value or junk (NaN, infinities,
huge integers, wrong types, misspelt keywords, a 1,000-character string). Every call and the
final ``build()`` must either succeed or raise ``ConfigError`` whose message is short and never
quotes a huge value. Nothing connects or runs, so an example takes milliseconds; the examples
are bounded so the test takes a few seconds.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from weirflow import ConfigError, FlowBuilder

HUGE = "5" * 1000
INTERNAL = ("Lazy", "__init__", "unexpected keyword", "MqttSource", "HttpSource", "Storage(")


def plain(text: str) -> bool:
    """Text that does not spell an internal name (a message may quote what it was given)."""
    return not any(name in text for name in INTERNAL)


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 2**70, 0, -1, 1, 0.5]),
    st.text(max_size=12).filter(plain),
    st.just(HUGE),
    st.sampled_from(["false", "true", "5", "thread", "none", ""]),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.integers()),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.binary(max_size=4),
    st.builds(object),
)


def either(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a good value, one in ten times junk."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda n: junk if n == 0 else good)


def item_function(item: Any) -> Any:
    return item


def no_item() -> int:
    return 1


def injected(item: Any, db_connectors: Any, pipeline_name: str) -> Any:
    return item


def misspelt(db_connector: Any) -> Any:
    return db_connector


def needs_resource(item: Any, connection: Any) -> Any:
    return item


def opens() -> dict[str, Any]:
    return {"connection": 1}


FUNCTIONS = st.sampled_from([item_function, no_item, injected, misspelt, needs_resource, print])
KINDS = either(st.sampled_from(["thread", "process", "task", "sync", "fiber", "Thread"]))
WORKERS = either(st.integers(min_value=-2, max_value=2000))
MAXSIZE = either(st.integers(min_value=-2, max_value=10**6))
SECONDS = either(st.floats(min_value=0, max_value=1e9) | st.integers(min_value=0, max_value=99))
CRON = either(
    st.sampled_from(
        [
            "*/5 * * * *",
            "61 * * * *",
            "0 0 31 2 *",
            "* * * * * 30",
            "0 */5 * * * *",
            "0 */5 * * * ?",
            "* * * * * 30 2099",
            "@hourly",
            "@reboot",
            "* * *",
            "a b c d e",
            "*/0 * * * *",
            "H * * * *",
        ]
    )
)
ZONE = either(st.sampled_from(["UTC", "Europe/Paris", "Europe/Pari", "Mars/Olympus", "../x"]))


def keywords(options: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of ``options``, sometimes with a misspelt or unknown keyword added."""
    names = sorted(options)
    typo = st.sampled_from([name[:-1] for name in names] + ["colour", "pipeline", "url"])
    return st.tuples(
        st.fixed_dictionaries({}, optional=options), st.integers(min_value=0, max_value=9)
    ).flatmap(
        lambda chosen: (
            st.tuples(typo, junk).map(lambda extra: {**chosen[0], extra[0]: extra[1]})
            if chosen[1] == 0
            else st.just(chosen[0])
        )
    )


PIPELINE = keywords(
    {
        "timedelta_seconds": SECONDS,
        "timedelta_minutes": SECONDS,
        "cron": CRON,
        "timezone": ZONE,
        "delay_seconds": SECONDS,
        "on_failure": either(st.sampled_from(["stop", "restart", "continue", "retry"])),
        "max_restarts": either(st.integers(min_value=-1, max_value=10)),
        "restart_backoff_seconds": SECONDS,
    }
)
ENGINE = {"kind": KINDS, "workers": WORKERS, "maxsize": MAXSIZE}
HTTP = keywords(
    {
        "method": either(st.sampled_from(["GET", "POST", "PATCH"])),
        "headers": either(st.just({"apikey": "x"})),
        "params": either(st.just({"q": 1})),
        "json": junk,
        "timeout": SECONDS,
        "retries": either(st.integers(min_value=-1, max_value=200)),
        "backoff": SECONDS,
        "verify": either(st.booleans()),
        "decode": either(st.sampled_from(["json", "text", "bytes", "xml"])),
        "configuration": either(st.sampled_from(["get", "post"])),
        "max_body_bytes": either(st.integers(min_value=-1, max_value=2**40) | st.none()),
        "deadline_seconds": either(SECONDS | st.none()),
        "redact": either(st.just(["q"]) | st.none()),
        **ENGINE,
    }
)
MQTT = keywords(
    {
        "port": either(st.integers(min_value=0, max_value=70000)),
        "topic": either(st.sampled_from(["sensors/#", "a/+/b", "bad/#/x", ""])),
        "qos": either(st.integers(min_value=0, max_value=3)),
        "client_id": either(st.sampled_from(["svc", ""])),
        "keepalive": either(st.integers(min_value=0, max_value=70000)),
        "reconnect_min_delay": SECONDS,
        "reconnect_max_delay": SECONDS,
        "session_expiry": either(st.integers(min_value=-1, max_value=2**33)),
        "decode": either(st.sampled_from(["json", "text", "bytes", "yaml"])),
        "maxsize": MAXSIZE,
        "pipeline": st.just("other"),
    }
)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def stages(folder: Path) -> st.SearchStrategy[Callable[[Any], Any]]:
    """One builder call on a pipeline builder."""
    path = either(st.sampled_from([str(folder / "a.json"), str(folder / "b.jsonl")]))
    url = either(
        st.sampled_from(
            [
                f"sqlite:///{folder}/db.sqlite",
                "postgres://u@localhost/db",
                "postgresql+psycopg2://u@localhost/db",
                "nosuch://x",
            ]
        )
    )
    storage = st.one_of(
        st.tuples(st.sampled_from(["json", "jsonl", "csv"]), keywords({"path": path, **ENGINE})),
        st.tuples(st.just("sql"), keywords({"url": url, "table": junk, **ENGINE})),
        st.tuples(st.just(item_function), keywords({"preprocessing": junk})),
        st.tuples(junk, keywords({"path": path})),
    )
    destination = either(st.sampled_from(["http://localhost:8026/r", "ftp://x/y"]))
    sender = st.one_of(
        st.tuples(
            st.sampled_from(["http_post", "http_put"]),
            keywords(
                {
                    "destination": destination,
                    "timeout": SECONDS,
                    "backoff": SECONDS,
                    "retries": junk,
                    "label_to_send": junk,
                    **ENGINE,
                }
            ),
        ),
        st.tuples(st.just("mqtt"), keywords({"topic": junk, "timeout": SECONDS, "qos": junk})),
        st.tuples(st.just("stream"), keywords({"name": either(st.just("s"))})),
        st.tuples(st.just(item_function), keywords({"label_to_send": junk})),
        st.tuples(junk, keywords({})),
    )
    url_source = either(st.sampled_from(["http://localhost:8025/numbers", "ftp://x", "nohost"]))
    return st.one_of(
        st.tuples(FUNCTIONS, keywords({**ENGINE, "on_start": st.just(opens)})).map(
            lambda a: lambda p: p.with_core_logic(a[0], **a[1])
        ),
        st.tuples(FUNCTIONS, keywords(ENGINE)).map(
            lambda a: lambda p: p.with_configuration(a[0], **a[1])
        ),
        st.tuples(url_source, HTTP).map(lambda a: lambda p: p.with_http_connector(a[0], **a[1])),
        st.tuples(either(st.just("localhost")), MQTT).map(
            lambda a: lambda p: p.with_mqtt_connector(a[0], **a[1])
        ),
        either(st.just("s")).map(lambda name: lambda p: p.with_stream_connector(name)),
        storage.map(lambda a: lambda p: p.with_storage(a[0], **a[1])),
        sender.map(lambda a: lambda p: p.send(a[0], **a[1])),
    )


def check(error: ConfigError) -> None:
    """A short message, naming what the user called, not weirflow's classes."""
    message = str(error)
    assert HUGE[:150] not in message, message
    assert len(message) < 1500, message
    assert not [name for name in INTERNAL if name in message], message


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_builder_configuration_builds_or_is_a_config_error(
    data: st.DataObject, folder: Path
) -> None:
    try:
        builder = FlowBuilder(**data.draw(keywords({"use_threads": either(st.booleans())})))
        for number in range(data.draw(st.integers(min_value=1, max_value=3))):
            name = data.draw(either(st.sampled_from([f"p{number}", "p0"])))
            pipeline = builder.add_pipeline(name, **data.draw(PIPELINE))
            for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
                data.draw(stages(folder))(pipeline)
        builder.build()
        event("built")
    except ConfigError as error:
        event("ConfigError")
        check(error)


def template(folder: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """A valid flow of four pipelines, as (target, method, keyword arguments) calls."""
    return [
        ("flow", "FlowBuilder", {"use_threads": True}),
        (
            "flow",
            "add_pipeline",
            {"name": "readings", "timedelta_seconds": 10, "on_failure": "restart"},
        ),
        (
            "pipeline",
            "with_http_connector",
            {"source": "http://localhost:8025/numbers", "timeout": 2.0, "retries": 1},
        ),
        ("pipeline", "with_core_logic", {"function": item_function, "workers": 2}),
        ("pipeline", "with_storage", {"storage": "jsonl", "path": str(folder / "r.jsonl")}),
        ("pipeline", "send", {"sender": "stream", "name": "s"}),
        ("flow", "add_pipeline", {"name": "report", "max_restarts": 2}),
        ("pipeline", "with_stream_connector", {"name": "s", "maxsize": 10}),
        ("pipeline", "with_core_logic", {"function": injected, "kind": "thread"}),
        (
            "pipeline",
            "with_storage",
            {"storage": "sql", "url": f"sqlite:///{folder}/db.sqlite", "table": "report"},
        ),
        (
            "pipeline",
            "send",
            {"sender": "http_post", "destination": "http://localhost:8026/r", "timeout": 1},
        ),
        ("flow", "add_pipeline", {"name": "sensors", "delay_seconds": 1}),
        (
            "pipeline",
            "with_mqtt_connector",
            {"source": "localhost", "topic": "sensors/#", "qos": 1, "client_id": "svc"},
        ),
        ("pipeline", "with_storage", {"storage": item_function, "maxsize": 5}),
        (
            "flow",
            "add_pipeline",
            {"name": "daily", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
        ),
        ("pipeline", "with_configuration", {"function": no_item}),
        ("pipeline", "with_core_logic", {"function": item_function, "kind": "process"}),
        ("pipeline", "with_storage", {"storage": "json", "path": str(folder / "d.json")}),
    ]


POSITIONAL_ONLY = {"with_storage": "storage", "send": "sender"}


def run(calls: list[tuple[str, str, dict[str, Any]]]) -> None:
    builder: Any = None
    pipeline: Any = None
    for target, method, arguments in calls:
        arguments = dict(arguments)
        first = [arguments.pop(POSITIONAL_ONLY[method])] if method in POSITIONAL_ONLY else []
        if method == "FlowBuilder":
            builder = FlowBuilder(**arguments)
        elif target == "flow":
            pipeline = getattr(builder, method)(**arguments)
        else:
            getattr(pipeline, method)(*first, **arguments)
    builder.build()


def test_the_template_flow_builds(folder: Path) -> None:
    run(template(folder))


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_one_bad_argument_in_a_valid_flow_builds_or_is_a_config_error(
    data: st.DataObject, folder: Path
) -> None:
    calls = template(folder)
    position = data.draw(st.integers(min_value=0, max_value=len(calls) - 1))
    target, method, arguments = calls[position]
    names = sorted(arguments)
    how = data.draw(st.sampled_from(["replace", "add", "misspell"]))
    if how == "replace":
        arguments = {**arguments, data.draw(st.sampled_from(names)): data.draw(junk)}
    elif how == "add":
        extra = data.draw(st.text(min_size=1, max_size=12).filter(plain))
        arguments = {**arguments, extra: data.draw(junk)}
    else:
        name = data.draw(st.sampled_from(names))
        typo = data.draw(st.sampled_from([name[:-1], name + "s", name.upper(), name[1:]]))
        if typo in arguments or name in POSITIONAL_ONLY.values():
            return
        value = arguments.pop(name)
        arguments = {**arguments, typo: value}
    calls[position] = (target, method, arguments)
    try:
        run(calls)
        event("built")
    except ConfigError as error:
        event("ConfigError")
        check(error)
