"""weirflow in Prefect: a Prefect flow whose task runs a weirflow service to its end, and a
weirflow pipeline that starts a Prefect deployment for each report it makes.

Prefect schedules, retries and shows the task; weirflow does the concurrent work inside it.
``run_flow`` installs no signal handler, re-raises a failed pipeline (so the task and the flow
run fail in Prefect) and returns a JSON summary, which becomes the task's result.

    prefect deploy examples/prefect/weirflow_flow.py:nightly_collection -n daily
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from weirflow import FlowBuilder, run_flow


def readings(day: str) -> list[dict[str, Any]]:
    """Stands for a device or API read by the service (three readings a day here)."""
    return [{"day": day, "sensor": n, "value": 20.0 + n} for n in range(3)]


def build_collection(day: str, path: str) -> FlowBuilder:
    """The weirflow service: collect the day's readings into a JSON-lines file."""
    builder = FlowBuilder()
    builder.add_pipeline("collect").with_core_logic(
        lambda: iter(readings(day)), workers=1
    ).with_storage("jsonl", path=path)
    return builder


@task(retries=0)
def collect(day: str, path: str) -> dict[str, Any]:
    """One weirflow service, run to its end inside a Prefect task."""
    return run_flow(build_collection(day, path), execution_seconds=600)


@flow(name="nightly-collection")
def nightly_collection(day: str, path: str = "data/readings.jsonl") -> dict[str, Any]:
    summary = collect(day, path)
    return {"day": day, "stored": summary["pipelines"]["collect"]["items"]}


# --8<-- [start:trigger]
def build_reports(api_url: str | None = None) -> FlowBuilder:
    """A weirflow service that asks Prefect for a collection run of each day it reports on.

    The same report delivered twice (an at-least-once source redelivers) creates one flow run:
    the idempotency key is derived from the item.
    """
    builder = FlowBuilder()
    builder.add_pipeline("reports", cron="0 6 * * *").with_core_logic(
        lambda: iter([{"parameters": {"day": "2030-01-01", "path": "data/2030-01-01.jsonl"}}])
    ).send(
        "prefect_deployment",
        name="nightly-collection/daily",
        parameters_from="parameters",
        api_url=api_url,  # None: the PREFECT_API_URL environment variable
    )
    return builder


# --8<-- [end:trigger]
