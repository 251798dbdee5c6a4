"""JSON log lines in your own program: each line names the pipeline and stage it comes from.

A JSON handler put together from ``weirflow.observe``; a flow's run then writes one JSON object
per line: the stage function's own lines, with their pipeline and stage, and weirflow's line for
the finished run, with its fields. ``log_handler("json")`` is that handler with credential
masking too: the one ``weirflow run`` logs through.

    python json_logs.py
"""

from __future__ import annotations

import json
from typing import Any

from weirflow import FlowBuilder
from weirflow.observe import log_handler
from weirflow.testing import ListSource

# isort: split
# --8<-- [start:handler]
import io
import logging

from weirflow.observe import JsonFormatter, LogFields

lines = io.StringIO()  # logging.StreamHandler() alone writes to stderr
handler = logging.StreamHandler(lines)
handler.addFilter(LogFields())  # record.pipeline, record.stage
handler.setFormatter(JsonFormatter())  # or a format with %(pipeline)s %(stage)s
logging.getLogger().addHandler(handler)
# --8<-- [end:handler]
logging.getLogger("weirflow").setLevel(logging.INFO)  # weirflow's run lines, and yours below

log = logging.getLogger("weirflow.myservice")


def convert(reading: dict[str, Any]) -> dict[str, Any]:
    log.info("converting %s", reading["sensor"], extra={"sensor": reading["sensor"]})
    return {"sensor": reading["sensor"], "fahrenheit": reading["celsius"] * 9 / 5 + 32}


builder = FlowBuilder()
(
    builder.add_pipeline("readings")  # no schedule: one run
    .with_source(ListSource([{"sensor": "t1", "celsius": 20.0}, {"sensor": "t2", "celsius": 5.0}]))
    .with_core_logic(convert)
    .with_storage("jsonl", path="data/json_logs/readings.jsonl")
)
builder.build().launch_flow()

records = [json.loads(line) for line in lines.getvalue().splitlines()]
for record in records:
    print(json.dumps(record))
mine = [record for record in records if record["logger"] == "weirflow.myservice"]
assert [record["message"] for record in mine] == ["converting t1", "converting t2"]
assert (mine[0]["pipeline"], mine[0]["stage"], mine[0]["sensor"]) == (
    "readings",
    "readings.core_logic",  # the pipeline's name, then the stage's label
    "t1",
)
run = next(record for record in records if "run finished" in record["message"])
assert {"time", "level", "logger", "message", "pipeline", "stage"} <= set(run)
assert (run["pipeline"], run["stage"], run["items"], run["outcome"]) == (
    "readings",
    None,
    2,
    "finished",
)
assert run["time"].endswith("Z")  # UTC
assert isinstance(run["duration_seconds"], float)

# --8<-- [start:masked]
masked = log_handler("json")  # JsonFormatter, LogFields and credential masking, on stderr
masked.setStream(io.StringIO())  # here: kept, to read it back
logging.getLogger().removeHandler(handler)
logging.getLogger().addHandler(masked)
log.warning("cannot reach %s", "https://bob:hunter2@api.example.com/v1?apikey=abc123&city=Oslo")
# --8<-- [end:masked]
line = json.loads(masked.stream.getvalue())
print(json.dumps(line))
assert line["message"] == "cannot reach https://***@api.example.com/v1?apikey=***&city=Oslo"
