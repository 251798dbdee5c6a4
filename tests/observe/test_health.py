"""``/healthz`` and ``/readyz``: liveness answers while the supervisor does; readiness flips
when a continuous source loses its broker (a private Mosquitto, stopped by the test) or a
pipeline fails, and comes back; each answer lists its checks."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from weirflow import FlowBuilder
from weirflow.testing import Mosquitto

from .serving import serving, wait_for


def get(url: str, path: str) -> httpx.Response:
    return httpx.get(f"{url}{path}", timeout=10)


def check(response: httpx.Response, name: str) -> dict[str, Any]:
    checks = {c["name"]: c for c in response.json()["checks"]}
    return checks[name]


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_readiness_follows_the_mqtt_source_connection(
    mqtt_broker: Mosquitto, tmp_path: Path, use_threads: bool
) -> None:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("readings").with_mqtt_connector(
        mqtt_broker.host,
        port=mqtt_broker.port,
        topic=f"weirflow-test/{uuid.uuid4().hex}",
        reconnect_min_delay=0.05,
        reconnect_max_delay=0.2,
    ).with_storage("jsonl", path=str(tmp_path / "readings.jsonl"))
    with serving(builder.build()) as url:
        ready = wait_for(lambda: (r := get(url, "/readyz")).status_code == 200 and r, what="ready")
        assert check(ready, "source readings") == {
            "name": "source readings",
            "ok": True,
            "detail": "connected",
        }
        mqtt_broker.stop()
        not_ready = wait_for(
            lambda: (r := get(url, "/readyz")).status_code == 503 and r, what="not ready"
        )
        assert check(not_ready, "source readings")["ok"] is False
        assert not_ready.json()["status"] == "failing"
        assert get(url, "/healthz").status_code == 200  # liveness checks no dependency
        mqtt_broker.start()
        wait_for(lambda: get(url, "/readyz").status_code == 200, what="ready again")


def test_readiness_fails_while_a_pipeline_backs_off_after_a_failure(tmp_path: Path) -> None:
    marker = tmp_path / "healthy"

    def flaky() -> int:
        if not marker.exists():
            raise ConnectionError("the upstream said no to http://user:hunter2@example.com/x")
        return 1

    builder = FlowBuilder()
    builder.add_pipeline(
        "flaky", timedelta_seconds=0.05, on_failure="restart", restart_backoff_seconds=0.5
    ).with_core_logic(flaky).with_storage("jsonl", path=str(tmp_path / "flaky.jsonl"))
    with serving(builder.build()) as url:
        failing = wait_for(
            lambda: (r := get(url, "/readyz")).status_code == 503 and r, what="not ready"
        )
        assert check(failing, "pipeline flaky") == {
            "name": "pipeline flaky",
            "ok": False,
            "detail": "state restarting",
        }
        status = get(url, "/api/status").json()
        error = status["pipelines"][0]["last_error"]
        assert error["type"] == "ConnectionError"
        assert error["stage"] == "flaky.core_logic"
        assert "hunter2" not in error["message"]
        assert "the upstream said no" in error["message"]
        marker.touch()
        wait_for(lambda: get(url, "/readyz").status_code == 200, what="ready after the restart")
        assert get(url, "/healthz").json()["checks"][0]["ok"] is True


def test_health_is_503_when_the_flow_is_not_running() -> None:
    from weirflow.observe._health import liveness, readiness

    builder = FlowBuilder()
    builder.add_pipeline("p", timedelta_seconds=60).with_core_logic(lambda: 1)
    flow = builder.build()
    assert not liveness(flow).ok
    assert readiness(flow).as_dict()["checks"][0] == {
        "name": "flow",
        "ok": False,
        "detail": "flow is idle",
    }
