"""The service file the Redis benchmarks run with ``weirflow run`` (two processes).

``produce`` yields ``BENCH_N`` small dicts to the stream ``items``; ``consume`` reads it and
burns ``BENCH_WORK_MS`` milliseconds of CPU per item (0: none), then drops the item, so what is
timed is the stream itself: publish, read, decode, acknowledge.
"""

import os
import time

from weirflow import FlowBuilder

N = int(os.environ.get("BENCH_N", "200000"))
WORK_SECONDS = float(os.environ.get("BENCH_WORK_MS", "0")) / 1000


def produce():
    return ({"id": i, "value": i * 0.5, "sensor": "s1"} for i in range(N))


def consume(item):
    if WORK_SECONDS:
        end = time.thread_time() + WORK_SECONDS
        while time.thread_time() < end:
            pass


builder = FlowBuilder(name=os.environ.get("BENCH_FLOW", "bench"))
builder.add_pipeline("produce").with_core_logic(produce).send("stream", name="items")
builder.add_pipeline("consume").with_stream_connector("items").with_core_logic(consume)
