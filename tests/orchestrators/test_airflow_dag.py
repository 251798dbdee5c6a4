"""The "weirflow in Airflow" DAG file, imported as the docs show it: its task runs a weirflow
flow and returns a JSON summary; its trigger service starts DAG runs, once per item.

The file is imported without Airflow (Airflow 3 and Prefect cannot share one environment), so
the DAG object itself is not built here; the functions its tasks call are what is tested.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from weirflow.testing import run_once

from .test_airflow_sender import PASSWORD, airflow, contract

__all__ = ["airflow"]  # the fixture, shared

DAG_FILE = Path(__file__).resolve().parents[2] / "examples" / "airflow" / "weirflow_dag.py"


@pytest.fixture(scope="module")
def dag_file() -> ModuleType:
    spec = importlib.util.spec_from_file_location("weirflow_dag", DAG_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_task_runs_the_service_and_returns_a_json_summary(
    dag_file: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "readings.jsonl"
    summary = dag_file.collect("2030-01-01", str(path))
    assert json.loads(json.dumps(summary)) == summary  # an XCom value
    assert summary["pipelines"]["collect"]["items"] == 3
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(row["value_f"] for row in rows) == [68.0, 69.8, 71.6]


def test_without_airflow_the_file_defines_no_dag(dag_file: ModuleType) -> None:
    assert dag_file.dag is None
    assert not hasattr(dag_file, "weirflow_collection")


def test_the_trigger_service_starts_one_dag_run_per_day(dag_file: ModuleType, airflow: Any) -> None:
    server, state = airflow
    server.route("POST", "/api/v2/dags/weirflow_collection/dagRuns", state.trigger)
    for _ in range(2):  # the same report, delivered again
        run_once(dag_file.build_triggers(server.url, ("ops", PASSWORD)))
    assert len(state.runs) == 1
    (body,) = state.runs.values()
    assert contract(body).conf == {"day": "2030-01-01", "path": "data/2030-01-01.jsonl"}
