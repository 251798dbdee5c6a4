"""Building flows: every configuration mistake is a ConfigError at build time, saying what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from weirflow import ConfigError, FlowBuilder


def core() -> int:
    return 1


def build(configure: Callable[[FlowBuilder], Any]) -> Any:
    builder = FlowBuilder()
    configure(builder)
    return builder.build()


@pytest.mark.parametrize(
    ("configure", "message"),
    [
        (lambda b: None, "no pipelines"),
        (lambda b: b.add_pipeline("empty"), "has no stages"),
        (
            lambda b: (
                b.add_pipeline("twice").with_core_logic(core),
                b.add_pipeline("twice").with_core_logic(core),
            ),
            "defined twice",
        ),
        (
            lambda b: b.add_pipeline("p").with_core_logic(core).with_storage("jsonn"),
            "jsonn",
        ),
        (
            lambda b: b.add_pipeline("p").with_core_logic(core).send("http_post"),
            "destination",
        ),
        (lambda b: b.add_pipeline("p").with_core_logic(core).send(), "say how to send"),
        (
            lambda b: (
                b.add_pipeline("p")
                .with_core_logic(core)
                .with_storage(lambda item: None)
                .with_http_connector("http://localhost:1/x")
            ),
            "cannot follow",
        ),
        (lambda b: b.add_pipeline("p").with_storage(lambda item: None), "nothing to store"),
        (
            lambda b: b.add_pipeline("p").with_configuration(dict).send(lambda item: None),
            "parameters, not data",
        ),
        (
            lambda b: (
                b.add_pipeline("p")
                .with_core_logic(core)
                .with_configuration(dict)
                .with_core_logic(core)
            ),
            "must come before",
        ),
        (lambda b: b.add_pipeline("p", timedelta_seconds=0).with_core_logic(core), "> 0"),
        (
            lambda b: b.add_pipeline("p", timedelta_seconds=5, cron="* * * * *").with_core_logic(
                core
            ),
            "not both",
        ),
        (lambda b: b.add_pipeline("p", cron="every minute").with_core_logic(core), "cron"),
        (lambda b: b.add_pipeline("p", on_failure="retry").with_core_logic(core), "on_failure"),
        (lambda b: b.add_pipeline("p").with_core_logic(core, workers=0), "workers"),
        (lambda b: b.add_pipeline("p").with_core_logic(core, kind="fiber"), "kind"),
        (lambda b: b.add_pipeline("p").with_core_logic(core, maxsize=-1), "maxsize"),
        (lambda b: b.add_pipeline("p").with_core_logic(42), "expected a function"),
        (
            lambda b: b.add_pipeline("p").with_core_logic(lambda item, connection: item),
            "connection",
        ),
        (
            lambda b: b.add_pipeline("p").with_core_logic(core).send("stream", name="s"),
            "no pipeline reads",
        ),
        (
            lambda b: b.add_pipeline("p").with_stream_connector("s").with_storage(lambda i: None),
            "no pipeline sends",
        ),
        (
            lambda b: (
                b.add_pipeline("p", timedelta_seconds=1)
                .with_stream_connector("s")
                .with_storage(lambda i: None)
            ),
            "runs continuously",
        ),
        (
            lambda b: b.add_pipeline("p").with_http_connector("ftp://example.test/x"),
            "http",
        ),
        (
            lambda b: (
                b.add_pipeline("p")
                .with_core_logic(core)
                .with_storage("json", path="a.json")
                .with_storage("jsonl", path="b.jsonl")
            ),
            "already has a storage",
        ),
    ],
)
def test_configuration_mistakes_are_config_errors(
    configure: Callable[[FlowBuilder], Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build(configure)


def test_errors_name_the_pipeline_and_stage() -> None:
    with pytest.raises(ConfigError) as info:
        FlowBuilder().add_pipeline("readings").with_core_logic(core, workers=-2)
    assert "pipeline 'readings'" in str(info.value)
    assert "'readings.core_logic'" in str(info.value)


def test_describe_lists_pipelines_and_stages(tmp_path: Any) -> None:
    builder = FlowBuilder()
    builder.add_pipeline("readings", timedelta_seconds=10).with_http_connector(
        "http://localhost:8025/numbers", headers={"apikey": "secret-value"}
    ).with_storage("json", path=str(tmp_path / "r.json"))
    builder.add_pipeline("report", cron="*/5 * * * *").with_core_logic(
        core, workers=4, kind="process"
    ).send("http_post", destination="http://localhost:8026/reports", label_to_send="summary")
    text = builder.build().describe()
    assert "pipeline 'readings': every 10s" in text
    assert "readings.http_connector" in text
    assert "pipeline 'report': cron '*/5 * * * *'" in text
    assert "report.core_logic: core logic core [process, workers=4" in text
    assert "secret-value" not in text
