"""Records made in a stage's workers name its pipeline and stage, for every worker kind; the
consumer's own records do not (a ``sync`` stage's context stays its own)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

import weirflow as wf
from weirflow._api import Operators
from weirflow._runtime._ops import Map
from weirflow.observe import LogFields

log = logging.getLogger("weirflow.test_log_fields")


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(LogFields())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[Kept]:
    handler = Kept()
    logger = logging.getLogger("weirflow")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def noisy(x: int) -> int:
    log.info("item %d", x)
    return x


@pytest.mark.parametrize("kind", ["sync", "thread", "task", "process"])
def test_a_named_stage_s_records_carry_its_pipeline_and_stage(kept: Kept, kind: str) -> None:
    stage = Operators(kind).named(Map(noisy), range(3), name="weather.parse", pipeline="weather")
    assert sorted(stage) == [0, 1, 2]
    log.info("after the loop")
    where = [(r.getMessage(), r.pipeline, r.stage) for r in kept.records]  # type: ignore[attr-defined]
    assert sorted(where[:3]) == [(f"item {i}", "weather", "weather.parse") for i in range(3)]
    assert where[3] == ("after the loop", None, None)


def test_an_engine_stage_names_its_stage_only(kept: Kept) -> None:
    assert list(wf.sync.map(noisy, [7])) == [7]
    [record] = kept.records
    assert (record.pipeline, record.stage) == (None, "sync.map(noisy)")  # type: ignore[attr-defined]


def test_extra_fields_win(kept: Kept) -> None:
    log.info("mine", extra={"pipeline": "p", "stage": "p.s"})
    [record] = kept.records
    assert (record.pipeline, record.stage) == ("p", "p.s")  # type: ignore[attr-defined]


def test_json_lines_leave_out_the_private_fields_libraries_stamp_on_records() -> None:
    from weirflow.observe import JsonFormatter

    record = logging.makeLogRecord(
        {"name": "weirflow", "msg": "hello", "items": 2, "_ray_timestamp_ns": 17}
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["items"] == 2
    assert "_ray_timestamp_ns" not in line
