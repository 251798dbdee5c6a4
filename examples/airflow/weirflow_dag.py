"""weirflow in Airflow: a DAG whose task runs a weirflow service with ``run_flow``, and a
weirflow pipeline that triggers a run of that DAG for each day it reports on.

Put this file in Airflow's ``dags/`` folder (weirflow installed where the tasks run). Airflow
owns the task's process: ``run_flow`` installs no signal handler, so when Airflow stops the
task (a timeout, a user marking it failed) its SIGTERM is Airflow's to handle and the task is
recorded as killed, never as a success; a failed pipeline raises, so the task fails and
Airflow's retries apply. The summary ``run_flow`` returns goes to XCom.

The file imports without Airflow (the DAG is then not defined): the functions stay testable
anywhere, and weirflow's test suite imports it that way (Airflow and the Prefect its other
tests use cannot share one environment).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from weirflow import FlowBuilder, run_flow

try:
    from airflow.sdk import Param, dag, task
except ImportError:  # no Airflow here: the functions below still work
    dag = None


def readings(day: str) -> list[dict[str, Any]]:
    """Stands for the devices or the API the service reads (three readings a day here)."""
    return [{"day": day, "sensor": n, "value": 20.0 + n} for n in range(3)]


def build_collection(day: str, path: str) -> FlowBuilder:
    """The weirflow service: the day's readings, four workers, into a JSON-lines file."""
    builder = FlowBuilder()
    builder.add_pipeline("collect").with_core_logic(lambda: iter(readings(day))).with_core_logic(
        lambda row: {**row, "value_f": row["value"] * 9 / 5 + 32}, workers=4
    ).with_storage("jsonl", path=path)
    return builder


def collect(day: str, path: str) -> dict[str, Any]:
    """The task: run the service to its end; the summary is the task's XCom value."""
    return run_flow(build_collection(day, path), execution_seconds=600)


if dag is not None:

    @dag(
        dag_id="weirflow_collection",
        schedule=None,  # triggered: by hand, or by the weirflow pipeline below
        start_date=datetime(2030, 1, 1),
        catchup=False,
        params={"day": Param("2030-01-01", type="string"), "path": "data/readings.jsonl"},
    )
    def weirflow_collection() -> None:
        task(task_id="collect")(collect)(day="{{ params.day }}", path="{{ params.path }}")

    weirflow_collection()


# --8<-- [start:trigger]
def build_triggers(url: str, auth: tuple[str, str] | str) -> FlowBuilder:
    """A weirflow service that asks Airflow for a collection run of each day it reports on.

    The run id is derived from the item, so a report delivered twice (an at-least-once source
    redelivers) triggers one DAG run: Airflow answers the second with 409, which is success.
    """
    builder = FlowBuilder()
    builder.add_pipeline("days", cron="0 6 * * *").with_core_logic(
        lambda: iter([{"conf": {"day": "2030-01-01", "path": "data/2030-01-01.jsonl"}}])
    ).send(
        "airflow_dag_run",
        url=url,  # the Airflow API server: https://airflow.example.com
        dag_id="weirflow_collection",
        conf_from="conf",
        auth=auth,  # (username, password): a token from /auth/token; or a token
    )
    return builder


# --8<-- [end:trigger]
