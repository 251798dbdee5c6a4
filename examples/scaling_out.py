"""Scaling out: one IoT service file, its heavy pipeline on a second "machine", joined by Redis.

The service has three pipelines:

* ``readings`` collects a batch of sensor readings (here: simulated devices, 2,000 readings)
  and sends them to the stream ``readings``;
* ``analyse`` is the heavy one: for each reading it computes a smoothed value and an anomaly
  score (CPU work, in two worker processes) and stores it in PostgreSQL (``scaling_out_analysed``,
  upserted on the reading's id, so a reading redelivered after a crash is stored once);
* ``alerts`` reads the same stream (each reading pipeline gets every reading) and keeps the
  readings over a threshold in ``data/scaling_out/alerts.jsonl``.

With ``FlowBuilder(broker="redis://...")`` every stream goes through Redis Streams, so the same
file runs in parts: on the first machine ``weirflow run scaling_out.py --pipelines
readings,alerts``, on a second one ``weirflow run scaling_out.py --pipelines analyse`` (as many
as you like: the instances share the work; one killed loses nothing). Both parts end by
themselves once every reading is stored. ``weirflow status scaling_out.py`` shows them running.

Run as a script, it plays both machines: it starts the heavy part as a second process and
runs the rest itself. It needs Redis (127.0.0.1:6379; ``WEIRFLOW_BROKER`` overrides it) and
PostgreSQL (127.0.0.1:5432, database ``test``; ``WEIRFLOW_DATABASE_URL`` overrides it)::

    python examples/scaling_out.py [readings]
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from weirflow import FlowBuilder

BROKER = os.environ.get("WEIRFLOW_BROKER", "redis://127.0.0.1:6379/0")
DATABASE = os.environ.get("WEIRFLOW_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
READINGS = int(os.environ.get("SCALING_OUT_READINGS", "2000"))
FOLDER = Path("data") / "scaling_out"
NAME = os.environ.get("SCALING_OUT_NAME", "scaling_out")  # the flow: prefixes its Redis keys
THRESHOLD = 28.0


def collect() -> Any:
    """The devices' readings (a stand-in for an HTTP or MQTT source)."""
    generator = random.Random(7)
    for number in range(READINGS):
        yield {
            "id": number,
            "sensor": f"sensor-{number % 16}",
            "celsius": round(20 + 10 * math.sin(number / 50) + generator.gauss(0, 3), 2),
        }


def analyse(reading: dict[str, Any]) -> dict[str, Any]:
    """The heavy part: a smoothed value and an anomaly score (about a millisecond of CPU)."""
    value = reading["celsius"]
    smoothed = value
    for step in range(1, 3000):
        smoothed += (value - smoothed) / (step + 1) + math.sin(step) * 1e-9
    return {**reading, "smoothed": round(smoothed, 4), "score": round(abs(value - 20) / 10, 3)}


def over_threshold(reading: dict[str, Any]) -> dict[str, Any] | None:
    return reading if reading["celsius"] > THRESHOLD else None


# --8<-- [start:flow]
builder = FlowBuilder(name=NAME, broker=BROKER)
builder.add_pipeline("readings").with_core_logic(collect).send("stream", name="readings")
(
    builder.add_pipeline("analyse", on_failure="continue")
    .with_stream_connector("readings", claim_idle_seconds=10)
    .with_core_logic(analyse, kind="process", workers=2)
    .with_storage("sql", url=DATABASE, table=f"{NAME}_analysed", upsert_on=["id"])
)
(
    builder.add_pipeline("alerts")
    .with_stream_connector("readings")
    .with_core_logic(over_threshold)
    .with_storage("jsonl", path=str(FOLDER / "alerts.jsonl"))
)
# --8<-- [end:flow]


def main() -> int:
    """Start the heavy part as a second process; run the rest here; both end by themselves."""
    heavy = subprocess.Popen(
        [sys.executable, "-m", "weirflow", "run", __file__, "--pipelines", "analyse"]
    )
    flow = builder.build()
    try:
        flow.run_part(["readings", "alerts"])
    finally:
        code = heavy.wait(300)
    for name, stats in flow.statistics().items():
        print(f"{name}: {stats['items']} items")
    print(f"analyse (second process): exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
