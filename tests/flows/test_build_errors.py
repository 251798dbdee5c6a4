"""Build-time checks: every mistake is a ConfigError naming the pipeline, the stage and the field.

Misspelt injected parameter names and builder keywords get a "did you mean"; numbers must be
finite and bounded; cron expressions say what is wrong with them; time zones are checked; the
SQL URL hint names the driver that is installed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from weirflow import ConfigError, FlowBuilder
from weirflow.flows import PipelineBuilder, VirtualClock
from weirflow.flows._schedule import Cron

INTERNAL_NAMES = ("MqttSource", "HttpSource", "HttpSender", "Lazy", "__init__", "TypeError")


def core() -> int:
    return 1


def pipeline(name: str = "p", **schedule: Any) -> PipelineBuilder:
    return FlowBuilder().add_pipeline(name, **schedule)


def error_of(make: Callable[[], Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        make()
    return str(caught.value)


# -- injected names ----------------------------------------------------------------------------


def summarise(db_connector: Any) -> Any:
    return db_connector


def report(pipline_name: str) -> dict[str, Any]:
    return {"from": pipline_name}


def camel(item: Any, pipelineName: str) -> Any:
    return item


@pytest.mark.parametrize(
    ("function", "wrong", "right"),
    [
        (summarise, "db_connector", "db_connectors"),
        (report, "pipline_name", "pipeline_name"),
        (camel, "pipelineName", "pipeline_name"),
    ],
)
def test_a_parameter_one_typo_from_an_injected_name_is_refused(
    function: Callable[..., Any], wrong: str, right: str
) -> None:
    message = error_of(lambda: pipeline().with_core_logic(function))
    assert "pipeline 'p', stage 'p.core_logic'" in message
    assert f"parameter {wrong!r}; did you mean {right!r}?" in message


def test_the_check_covers_configurations_and_resources_too() -> None:
    def configure(item: Any, db_conectors: Any) -> dict[str, Any]:
        return {}

    message = error_of(lambda: pipeline().with_configuration(configure, on_start=dict))
    assert "'p.configuration'" in message
    assert "did you mean 'db_connectors'?" in message


def test_names_that_are_not_one_typo_away_keep_their_meaning(tmp_path: Path) -> None:
    stored: list[Any] = []

    def first(pipeline_name: str) -> dict[str, Any]:  # the right spelling: injected
        return {"from": pipeline_name}

    def second(db_connection: dict[str, Any]) -> dict[str, Any]:  # two letters off: the item
        return db_connection

    builder = FlowBuilder()
    builder.add_pipeline("p").with_core_logic(first).with_core_logic(second).with_storage(
        stored.append
    )
    builder.build().launch_flow()
    assert stored == [{"from": "p"}]


def test_a_close_name_with_a_default_is_allowed_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def f(item: Any, pipline_name: str = "mine") -> Any:
        return item

    with caplog.at_level(logging.WARNING, logger="weirflow"):
        pipeline().with_core_logic(f).build()
    assert "did you mean 'pipeline_name'? It always gets its default" in caplog.text


# -- builder keywords ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "where", "hint"),
    [
        (
            lambda: FlowBuilder().add_pipeline("p", timedelta_second=5),
            "pipeline 'p': add_pipeline()",
            "'timedelta_second' (did you mean 'timedelta_seconds'?)",
        ),
        (
            lambda: FlowBuilder(use_thread=False),
            "FlowBuilder()",
            "'use_thread' (did you mean 'use_threads'?)",
        ),
        (
            lambda: pipeline().with_mqtt_connector("localhost", topics="a/b"),
            "pipeline 'p', stage 'p.mqtt_connector': with_mqtt_connector()",
            "'topics' (did you mean 'topic'?)",
        ),
        (
            lambda: pipeline().with_core_logic(core).send("http_post", url="http://h/r"),
            "pipeline 'p', stage 'p.send': send('http_post')",
            "'url' (did you mean 'destination'?)",
        ),
        (
            lambda: pipeline().with_core_logic(core).with_storage("json", paht="x.json"),
            "pipeline 'p', stage 'p.storage': with_storage('json')",
            "did you mean 'path'?",
        ),
        (
            lambda: pipeline().with_http_connector("http://h/x", timeuot=3),
            "pipeline 'p', stage 'p.http_connector': with_http_connector()",
            "'timeuot' (did you mean 'timeout'?)",
        ),
        (
            lambda: pipeline().with_core_logic(core, worker=2),
            "pipeline 'p', stage 'p.core_logic': with_core_logic()",
            "'worker' (did you mean 'workers'?)",
        ),
        (
            lambda: pipeline().with_core_logic(core).with_core_logic(core, kind="thred"),
            "pipeline 'p', stage 'p.core_logic_2'",
            "'thred' (did you mean 'thread'?)",
        ),
        (
            lambda: FlowBuilder().add_pipeline("p", on_failure="restrat"),
            "pipeline 'p': add_pipeline(on_failure=...)",
            "(did you mean 'restart'?)",
        ),
    ],
)
def test_misspelt_keywords_get_a_did_you_mean_and_no_internal_names(
    make: Callable[[], Any], where: str, hint: str
) -> None:
    message = error_of(make)
    assert message.startswith(where), message
    assert hint in message
    assert not [name for name in INTERNAL_NAMES if name in message], message


def test_too_many_positional_arguments_say_which_are_positional() -> None:
    message = error_of(lambda: FlowBuilder().add_pipeline("p", 5, None, 0, "stop"))
    assert "add_pipeline() takes at most 4 positional arguments" in message
    assert "give the others by name" in message


def test_a_positional_only_argument_given_by_name_says_so() -> None:
    message = error_of(lambda: pipeline().with_core_logic(core).with_storage(storage="json"))
    assert message.startswith("pipeline 'p', stage 'p.storage': with_storage() takes storage")
    assert "write it without 'storage='" in message


def test_a_missing_argument_is_named() -> None:
    message = error_of(lambda: FlowBuilder().add_pipeline())
    assert message == "add_pipeline() needs name"


def test_a_pipeline_name_given_twice_is_refused_when_it_is_added() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("readings").with_core_logic(core)
    message = error_of(lambda: builder.add_pipeline("readings"))
    assert "pipeline 'readings' is defined twice" in message


def test_a_connector_error_names_the_builder_method_not_the_class() -> None:
    message = error_of(lambda: pipeline().with_mqtt_connector("localhost", port=70000))
    assert message.startswith(
        "pipeline 'p', stage 'p.mqtt_connector': with_mqtt_connector(port=...): give a port"
    )
    assert "MqttSource" not in message


def test_the_source_may_not_be_told_its_pipeline() -> None:
    message = error_of(lambda: pipeline().with_mqtt_connector("localhost", pipeline="other"))
    assert "'p.mqtt_connector'" in message
    assert "remove pipeline=" in message


# -- numbers -----------------------------------------------------------------------------------

ABSURD = [math.nan, math.inf, -math.inf, 1e300, 10**400]


@pytest.mark.parametrize("value", ABSURD)
@pytest.mark.parametrize(
    "field", ["timedelta_seconds", "timedelta_minutes", "delay_seconds", "restart_backoff_seconds"]
)
def test_schedule_numbers_must_be_finite_and_bounded(field: str, value: float) -> None:
    message = error_of(lambda: FlowBuilder().add_pipeline("p", **{field: value}))
    assert message.startswith(f"pipeline 'p': add_pipeline({field}=...) must be a number of")
    assert "at most" in message


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e300])
@pytest.mark.parametrize(
    ("make", "where"),
    [
        (
            lambda v: pipeline().with_http_connector("http://h/x", timeout=v),
            "'p.http_connector': with_http_connector(timeout=...)",
        ),
        (
            lambda v: pipeline().with_http_connector("http://h/x", backoff=v),
            "'p.http_connector': with_http_connector(backoff=...)",
        ),
        (
            lambda v: pipeline().with_mqtt_connector("localhost", reconnect_max_delay=v),
            "'p.mqtt_connector': with_mqtt_connector(reconnect_max_delay=...)",
        ),
        (
            lambda v: (
                pipeline()
                .with_core_logic(core)
                .send("http_post", destination="http://h/r", timeout=v)
            ),
            "'p.send': send(timeout=...)",
        ),
        (
            lambda v: pipeline().with_core_logic(core).send("mqtt", topic="t", backoff=v),
            "'p.send': send(backoff=...)",
        ),
    ],
)
def test_connector_and_sender_seconds_must_be_finite_and_bounded(
    make: Callable[[float], Any], where: str, value: float
) -> None:
    message = error_of(lambda: make(value))
    assert f"pipeline 'p', stage {where}" in message


def test_retries_are_bounded() -> None:
    message = error_of(lambda: pipeline().with_http_connector("http://h/x", retries=10**6))
    assert "with_http_connector(retries=...) is 1000000; give at most 10000 retries" in message


@pytest.mark.parametrize("value", [2**70, 1025, 0, True, 2.0, math.nan, "4"])
def test_workers_must_be_a_whole_number_within_bounds(value: Any) -> None:
    message = error_of(lambda: pipeline().with_core_logic(core, workers=value))
    assert "pipeline 'p', stage 'p.core_logic': workers must be a whole number from 1 to 1024" in (
        message
    )


@pytest.mark.parametrize("value", [True, 1.5, math.nan, -1, "10"])
def test_maxsize_must_be_a_whole_number(value: Any) -> None:
    message = error_of(lambda: pipeline().with_core_logic(core).with_storage(print, maxsize=value))
    assert "pipeline 'p', stage 'p.storage': maxsize must be a whole number >= 0" in message


# -- what the fuzzer found --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["headers", "params"])
@pytest.mark.parametrize("value", [["a", "b"], "a=b", 3])
def test_headers_and_params_must_be_dicts(field: str, value: Any) -> None:
    message = error_of(lambda: pipeline().with_http_connector("http://h/x", **{field: value}))
    assert f"pipeline 'p', stage 'p.http_connector': with_http_connector({field}=...)" in message


@pytest.mark.parametrize("value", ["5", "5" * 1000, [5], None.__class__])
def test_timedelta_minutes_must_be_a_number_and_is_never_echoed_in_full(value: Any) -> None:
    message = error_of(lambda: FlowBuilder().add_pipeline("p", timedelta_minutes=value))
    assert "add_pipeline(timedelta_minutes=...) must be a number of minutes > 0" in message
    assert len(message) < 250


@pytest.mark.parametrize("option", ["timeout", "backoff", "deadline_seconds", "retries"])
def test_a_huge_http_option_value_is_never_echoed_in_full(option: str) -> None:
    huge = "5" * 1000
    message = error_of(
        lambda: pipeline().with_http_connector(source="http://localhost:1/x", **{option: huge})
    )
    assert f"with_http_connector({option}=...)" in message
    assert huge not in message
    assert len(message) < 300


@pytest.mark.parametrize("value", ["false", "", 0, None])
def test_use_threads_must_be_a_bool(value: Any) -> None:
    message = error_of(lambda: FlowBuilder(use_threads=value))
    assert "use_threads must be True or False" in message


@pytest.mark.parametrize("name", ["x" * 101, "two\nlines", ""])
def test_pipeline_and_stream_names_are_short_and_printable(name: str) -> None:
    assert "add_pipeline: name" in error_of(lambda: FlowBuilder().add_pipeline(name))
    message = error_of(lambda: pipeline().with_stream_connector(name))
    assert "pipeline 'p', stage 'p.stream_connector': with_stream_connector(name=...)" in message


# -- cron and time zones ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 32 * *", "day of month 32 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week 8 is out of range 0-7"),
        ("* * * * * 61", "second 61 is out of range 0-59"),
        ("*/0 * * * *", "the step '0' of the minute field must be a whole number >= 1"),
        ("0 */5 * * * ?", "Quartz's '0 */5 * * * ?' is '*/5 * * * * 0' here"),
        ("0 */5 * * * *", "for Quartz's meaning write '*/5 * * * * 0'"),
        ("0 0 31 2 *", "'0 0 31 2 *' never fires"),
        ("0 0 1 1 * 0 2020", "never fires"),
        ("* * * *", "has 4 fields; the accepted forms are five fields"),
        ("* * * * * * * *", "has 8 fields; the accepted forms are five fields"),
        ("every minute", "has 2 fields"),
        ("@reboot", "'@reboot' is not a cron nickname; use one of @hourly"),
    ],
)
def test_a_cron_error_says_what_is_wrong(cron: str, problem: str) -> None:
    message = error_of(lambda: FlowBuilder().add_pipeline("p", cron=cron))
    assert message.startswith("pipeline 'p': add_pipeline(cron=...): ")
    assert problem in message


def test_the_error_for_a_wrong_number_of_fields_lists_every_accepted_form() -> None:
    message = error_of(lambda: FlowBuilder().add_pipeline("p", cron="* * * *"))
    assert "a sixth field for the seconds at the end" in message
    assert "a seventh for the year" in message
    assert "@hourly" in message


@pytest.mark.parametrize("cron", ["*/5 * * * *", "*/5 * * * * 30", "0 0 1 1 * 0 2099", "@daily"])
def test_accepted_cron_forms_build(cron: str) -> None:
    pipeline(cron=cron).with_core_logic(core).build()


def first_start(cron: str, start: datetime, timezone: str | None = None) -> float:
    schedule = pipeline(cron=cron, timezone=timezone).with_core_logic(core).build()
    cron_schedule = schedule.pipelines[0].schedule
    assert isinstance(cron_schedule, Cron)
    return cron_schedule.first(VirtualClock(start))


def test_the_sixth_field_is_the_seconds() -> None:
    start = datetime(2030, 1, 1, 0, 1, 0, tzinfo=UTC)
    assert first_start("*/5 * * * * 30", start) == 4 * 60 + 30  # 00:05:30


def test_cron_is_read_in_utc_unless_a_timezone_is_given() -> None:
    winter = datetime(2030, 1, 15, 0, 0, tzinfo=UTC)
    summer = datetime(2030, 7, 15, 0, 0, tzinfo=UTC)
    assert first_start("0 9 * * *", winter) == 9 * 3600
    assert first_start("0 9 * * *", winter, "Europe/Paris") == 8 * 3600  # UTC+1
    assert first_start("0 9 * * *", summer, "Europe/Paris") == 7 * 3600  # UTC+2


def test_the_time_zone_is_described() -> None:
    flow = pipeline(cron="0 9 * * *", timezone="Europe/Paris").with_core_logic(core).build()
    assert "cron '0 9 * * *' in Europe/Paris" in flow.describe()


@pytest.mark.parametrize(
    ("zone", "hint"),
    [
        ("Europe/Pari", "(did you mean 'Europe/Paris'?)"),
        ("europe/paris", "(did you mean 'Europe/Paris'?)"),
        ("Mars/Olympus_Mons", "give an IANA name"),
        ("../../etc/passwd", "give an IANA name"),
        (5, "give an IANA time zone name"),
    ],
)
def test_a_bad_time_zone_gets_a_suggestion(zone: Any, hint: str) -> None:
    message = error_of(lambda: FlowBuilder().add_pipeline("p", cron="0 9 * * *", timezone=zone))
    assert message.startswith("pipeline 'p': add_pipeline(timezone=...)")
    assert hint in message


def test_a_time_zone_needs_a_cron() -> None:
    message = error_of(
        lambda: FlowBuilder().add_pipeline("p", timedelta_seconds=5, timezone="Europe/Paris")
    )
    assert "add_pipeline(timezone=...) is for cron schedules only" in message


# -- SQL URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql+psycopg2://u@localhost/db", "the database driver is not installed"),
        ("postgres://u@localhost/db", "SQLAlchemy has no dialect 'postgres'"),
    ],
)
def test_the_sql_url_hint_names_the_installed_driver(url: str, problem: str) -> None:
    pytest.importorskip("psycopg")
    message = error_of(
        lambda: pipeline().with_core_logic(core).with_storage("sql", url=url, table="t")
    )
    assert message.startswith("pipeline 'p', stage 'p.storage': with_storage('sql')")
    assert problem in message
    assert "write 'postgresql+psycopg://user:password@localhost:5432/database'" in message


def test_daylight_saving_changes_are_as_documented() -> None:
    """Spring: a skipped time runs at the first valid time after it; autumn: in both hours."""
    cron = Cron("30 2 * * *", 0, "Europe/Paris")
    spring = VirtualClock(datetime(2030, 3, 30, 12, tzinfo=UTC))
    at = spring.now() + timedelta(seconds=cron.first(spring))
    assert at == datetime(2030, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 summer time
    autumn = VirtualClock(datetime(2030, 10, 26, 12, tzinfo=UTC))
    first = cron.first(autumn)
    assert autumn.now() + timedelta(seconds=first) == datetime(2030, 10, 27, 0, 30, tzinfo=UTC)
    autumn.advance(first)
    second = cron.following(autumn, first)
    assert second is not None
    assert second - first == 3600  # 02:30 summer time, then 02:30 winter time
