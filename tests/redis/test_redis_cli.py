"""``weirflow status`` while instances run, and the command line's configuration errors."""

from __future__ import annotations

import json
import signal
from typing import Any

from redis_support import eventually, finish


def test_status_shows_the_running_instances_and_the_streams(
    redis_url: str, flow_name: str, tables: Any, run_service: Any
) -> None:
    settings = {"WF_FLOW": flow_name, "WF_TABLE": tables(), "WF_KIND": "thread"}
    consumer = run_service("run", "--pipelines", "work", "--broker", redis_url, **settings)

    def status() -> dict[str, Any]:
        code, out, err = finish(run_service("status", "--broker", redis_url, "--json", **settings))
        assert code == 0, err
        found: dict[str, Any] = json.loads(out)
        return found

    def consumer_seen() -> dict[str, Any] | None:
        found = status()
        groups = found["streams"][0]["groups"]
        return found if found["instances"] and groups[0]["consumers"] == 1 else None

    found = eventually(consumer_seen, 60, "the consumer in the status")
    [instance] = found["instances"]
    assert instance["pid"] == consumer.pid
    assert instance["pipelines"] == ["work"]
    assert instance["heartbeat"] >= instance["started"] > 0
    [stream] = found["streams"]
    assert stream["name"] == "jobs"
    assert stream["key"] == f"{flow_name}:jobs"
    assert stream["groups"] == [
        {"pipeline": "work", "lag": 0, "pending": 0, "consumers": 1, "dead_letters": 0}
    ]
    code, text, _ = finish(run_service("status", "--broker", redis_url, **settings))
    assert code == 0
    assert f"flow {flow_name!r} on {redis_url}" in text
    assert f"pid {consumer.pid}, pipelines work" in text
    assert "read by 'work': lag 0, pending 0, consumers 1, dead letters 0" in text
    consumer.send_signal(signal.SIGTERM)
    code, _, err = finish(consumer)
    assert code == 0, err
    assert status()["instances"] == []  # an instance that stops deregisters


def test_a_cut_stream_without_a_broker_is_a_configuration_error(
    flow_name: str, run_service: Any
) -> None:
    settings = {"WF_FLOW": flow_name, "WF_TABLE": "unused", "WEIRFLOW_BROKER": ""}
    code, _, err = finish(run_service("run", "--pipelines", "work", **settings))
    assert code == 2
    assert "stream 'jobs' is cut: written by 'produce' and read by 'work'" in err
    assert "--broker" in err


def test_an_unknown_pipeline_is_a_configuration_error_with_a_suggestion(
    redis_url: str, flow_name: str, run_service: Any
) -> None:
    settings = {"WF_FLOW": flow_name, "WF_TABLE": "unused"}
    code, _, err = finish(
        run_service("run", "--pipelines", "wrok", "--broker", redis_url, **settings)
    )
    assert code == 2
    assert "the flow has no pipeline 'wrok' (did you mean 'work'?)" in err


def test_status_without_a_broker_is_a_configuration_error(flow_name: str, run_service: Any) -> None:
    settings = {"WF_FLOW": flow_name, "WF_TABLE": "unused", "WEIRFLOW_BROKER": ""}
    code, _, err = finish(run_service("status", **settings))
    assert code == 2
    assert "has no broker" in err
    assert "--broker" in err


def test_the_broker_variable_is_used_when_no_broker_is_given(
    redis_url: str, flow_name: str, run_service: Any
) -> None:
    settings = {"WF_FLOW": flow_name, "WF_TABLE": "unused", "WEIRFLOW_BROKER": redis_url}
    code, out, err = finish(run_service("status", "--json", **settings))
    assert code == 0, err
    assert json.loads(out)["broker"] == redis_url
