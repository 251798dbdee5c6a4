"""The service file of the TLS tests: ``WF_N`` items from ``produce`` through the stream
``jobs`` to ``work``, which appends them to the JSON-lines file ``WF_OUT``. The broker comes
from ``--broker`` or ``$WEIRFLOW_BROKER``; ``WF_FLOW`` is the flow's name."""

import os

from weirflow import FlowBuilder

N = int(os.environ.get("WF_N", "50"))


def produce():
    for i in range(N):
        yield {"id": i}


def square(item):
    return {"id": item["id"], "square": item["id"] ** 2}


builder = FlowBuilder(name=os.environ["WF_FLOW"])
builder.add_pipeline("produce").with_core_logic(produce).send("stream", name="jobs")
(
    builder.add_pipeline("work")
    .with_stream_connector("jobs")
    .with_core_logic(square, kind="thread", workers=2)
    .with_storage("jsonl", path=os.environ["WF_OUT"])
)
