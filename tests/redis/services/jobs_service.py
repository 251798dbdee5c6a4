"""The service file of the Redis tests: a finite job, its workers and an optional audit.

Everything comes from the environment, so one file serves every test: ``WF_FLOW`` (the flow's
name, unique per test), ``WF_PG`` and ``WF_TABLE`` (where results go), ``WF_N`` (items),
``WF_SLEEP`` (seconds of work per item), ``WF_PRODUCE_SLEEP``, ``WF_POISON`` (an id that always
fails), ``WF_AUDIT_TABLE`` (a second reading pipeline), ``WF_CONSUMER`` (who stored a row).
"""

import os
import time

from weirflow import FlowBuilder

N = int(os.environ.get("WF_N", "200"))
SLEEP = float(os.environ.get("WF_SLEEP", "0"))
PRODUCE_SLEEP = float(os.environ.get("WF_PRODUCE_SLEEP", "0"))
POISON = int(os.environ.get("WF_POISON", "-1"))
PG = os.environ["WF_PG"]


def produce():
    for i in range(N):
        if PRODUCE_SLEEP:
            time.sleep(PRODUCE_SLEEP)
        yield {"id": i}


def square(item):
    if item["id"] == POISON:
        raise ValueError(f"poison item {item['id']}")
    if SLEEP:
        time.sleep(SLEEP)
    return {
        "id": item["id"],
        "square": item["id"] ** 2,
        "consumer": os.environ.get("WF_CONSUMER", ""),
    }


builder = FlowBuilder(name=os.environ["WF_FLOW"], broker=os.environ.get("WF_FILE_BROKER") or None)
builder.add_pipeline("produce").with_core_logic(produce).send("stream", name="jobs")
(
    builder.add_pipeline("work", on_failure="continue")
    .with_stream_connector(
        "jobs",
        claim_idle_seconds=float(os.environ.get("WF_CLAIM_IDLE", "30")),
        max_deliveries=int(os.environ.get("WF_MAX_DELIVERIES", "5")),
        maxsize=int(os.environ.get("WF_IN_FLIGHT", "0")),
    )
    .with_core_logic(square, kind=os.environ.get("WF_KIND", "process"), workers=2)
    .with_storage("sql", url=PG, table=os.environ["WF_TABLE"], upsert_on=["id"])
)
if os.environ.get("WF_AUDIT_TABLE"):
    (
        builder.add_pipeline("audit")
        .with_stream_connector("jobs")
        .with_storage("sql", url=PG, table=os.environ["WF_AUDIT_TABLE"], upsert_on=["id"])
    )
