"""weirflow with a real Prefect: a weirflow flow inside a Prefect flow and task (the example
flow file, imported), and ``send("prefect_deployment")`` creating real flow runs of a real
deployment, once per item, on the API of Prefect's test harness (a temporary local server)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from weirflow import FlowBuilder, HttpRequestError, PipelineFailed
from weirflow.testing import ListSource, run_once

from .conftest import require

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prefect" / "weirflow_flow.py"

# importing Prefect and starting its server take a minute on a busy machine (counted in the
# first test's time)
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Prefect keeps its own event-loop threads for the process's life; weirflow's must end."""
    before = set(threading.enumerate())
    yield
    left = [
        t.name
        for t in set(threading.enumerate()) - before
        if t.is_alive() and t.name.startswith("weirflow")
    ]
    assert not left, f"weirflow threads left running: {left}"


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    """The API URL of a temporary Prefect server (SQLite, on a free local port)."""
    require("prefect")
    utilities = require("prefect.testing.utilities")
    settings = require("prefect.settings")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # nothing leaves the machine
        with contextlib.ExitStack() as stack:
            for attempt in range(1, 4):
                # the harness picks a free port before its server binds it: on a busy machine
                # another process may take it first, and the server does not start
                harness = utilities.prefect_test_harness(server_startup_timeout=180)
                try:
                    stack.enter_context(harness)
                    break
                except Exception as error:
                    if attempt == 3:
                        raise
                    print(f"Prefect's test server did not start, again: {error!r}", file=sys.stderr)
            yield str(settings.PREFECT_API_URL.value())


@pytest.fixture(scope="module")
def example(prefect_api: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("weirflow_prefect_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flow_runs(api: str, deployment_id: str) -> list[dict[str, Any]]:
    answer = httpx.post(
        f"{api}/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment_id]}}}
    )
    answer.raise_for_status()
    runs: list[dict[str, Any]] = answer.json()
    return runs


def test_a_weirflow_flow_runs_inside_a_prefect_flow_and_task(
    example: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "readings.jsonl"
    result = example.nightly_collection("2030-01-01", str(path))
    assert result == {"day": "2030-01-01", "stored": 3}
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(row["sensor"] for row in rows) == [0, 1, 2]


def test_a_failed_pipeline_fails_the_prefect_task_and_flow_run(
    example: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(day: str) -> list[dict[str, Any]]:
        raise ValueError(f"no readings for {day}")

    monkeypatch.setattr(example, "readings", broken)
    state = example.nightly_collection("2030-01-02", str(tmp_path / "r.jsonl"), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="no readings for 2030-01-02"):
        state.result()


@pytest.fixture(scope="module")
def deployment(prefect_api: str) -> str:
    """A real deployment, ``nightly-collection/daily``, on the harness's server."""
    orchestration = require("prefect.client.orchestration")
    with orchestration.get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("nightly-collection")
        return str(client.create_deployment(flow_id=flow_id, name="daily"))


def test_the_sender_creates_one_flow_run_per_item_even_when_redelivered(
    example: ModuleType, prefect_api: str, deployment: str
) -> None:
    run_once(example.build_reports(api_url=prefect_api))
    run_once(example.build_reports(api_url=prefect_api))  # the same report, delivered again
    runs = flow_runs(prefect_api, deployment)
    assert len(runs) == 1
    assert runs[0]["parameters"] == {"day": "2030-01-01", "path": "data/2030-01-01.jsonl"}
    assert runs[0]["idempotency_key"].startswith("weirflow__")
    assert runs[0]["state"]["type"] == "SCHEDULED"


def test_other_items_make_other_flow_runs_with_keys_of_their_own(
    prefect_api: str, deployment: str
) -> None:
    before = len(flow_runs(prefect_api, deployment))
    items = [{"id": f"day-{n}", "day": f"2030-02-0{n}"} for n in (1, 2, 1)]
    builder = FlowBuilder()
    builder.add_pipeline("p").with_source(ListSource(items)).send(
        "prefect_deployment",
        name="nightly-collection/daily",
        parameters_from=lambda item: {"day": item["day"]},
        key_from="id",
        tags=["weirflow"],
        api_url=prefect_api,
    )
    run_once(builder)
    runs = flow_runs(prefect_api, deployment)
    made = {r["idempotency_key"]: r for r in runs}
    assert len(runs) == before + 2
    assert made["day-1"]["parameters"] == {"day": "2030-02-01"}
    assert "weirflow" in made["day-2"]["tags"]


def test_an_unknown_deployment_is_a_clear_error(prefect_api: str) -> None:
    builder = FlowBuilder()
    builder.add_pipeline("p").with_source(ListSource([{"day": "x"}])).send(
        "prefect_deployment", name="nightly-collection/nope", api_url=prefect_api
    )
    with pytest.raises(PipelineFailed, match=r"p\.send.*nightly-collection/nope.*404") as failed:
        run_once(builder)
    assert isinstance(failed.value.__cause__, HttpRequestError)
    assert failed.value.__cause__.status_code == 404
