"""``weirflow.testing.run_once`` and the List stand-ins: one run per pipeline on a virtual
clock, in schedule order, with frozen results; stand-ins shared by worker processes."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest

import weirflow
from weirflow import ConfigError, FlowBuilder, PipelineFailed
from weirflow.testing import (
    ListSender,
    ListSource,
    ListStorage,
    PipelineResult,
    VirtualClock,
    run_once,
)

MODES = [pytest.param(True, id="threads"), pytest.param(False, id="processes")]


def tenfold(item: int) -> int:
    return item * 10


def broken(item: int) -> int:
    if item == 2:
        raise ValueError("two is refused")
    return item


def test_each_pipeline_runs_once_at_its_first_start_in_that_order() -> None:
    clock = VirtualClock(datetime(2030, 5, 1, 5, 30, tzinfo=UTC))
    starts: dict[str, datetime] = {}
    builder = FlowBuilder()
    for name, schedule in [
        ("daily", {"cron": "0 6 * * *"}),
        ("late", {"timedelta_seconds": 60, "delay_seconds": 600}),
        ("now", {"timedelta_seconds": 3600}),
    ]:
        builder.add_pipeline(name, **schedule).with_core_logic(
            lambda pipeline_name: starts.setdefault(pipeline_name, clock.now())
        )
    results = run_once(builder, clock=clock)
    assert list(results) == ["now", "late", "daily"]
    assert [results[n].started_at.strftime("%H:%M") for n in results] == ["05:30", "05:40", "06:00"]
    assert {n: r.started_at for n, r in results.items()} == starts
    assert all(r.statistics.runs == 1 for r in results.values())


def test_results_are_frozen_values() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("p").with_source(ListSource([1, 2])).with_core_logic(tenfold)
    results = run_once(builder)
    result = results["p"]
    assert isinstance(result, PipelineResult)
    assert result.items == (10, 20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.items = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.statistics.items = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        results["q"] = result  # type: ignore[index]


def test_a_failed_run_is_raised_or_returned() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("bad").with_source(ListSource([1, 2, 3])).with_core_logic(broken)
    builder.add_pipeline("good").with_source(ListSource([1]))
    with pytest.raises(PipelineFailed) as failed:
        run_once(builder)
    assert failed.value.pipeline == "bad"
    assert failed.value.stage == "bad.core_logic"
    results = run_once(builder, raise_failures=False)
    bad = results["bad"]
    assert bad.error is not None
    assert isinstance(bad.error.__cause__, ValueError)
    assert (bad.statistics.runs, bad.statistics.failures) == (0, 1)
    assert bad.statistics.last_error == "ValueError: two is refused"
    assert results["good"].items == (1,)


def test_failed_items_are_set_aside_under_continue() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("p", on_failure="continue", dead_letter=ListStorage()).with_source(
        ListSource([1, 2, 3])
    ).with_core_logic(broken)
    result = run_once(builder)["p"]
    assert sorted(result.items) == [1, 3]
    assert (result.statistics.failed_items, result.statistics.dead_letters) == (1, 1)


def test_continuous_pipelines_are_left_out_unless_named() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("live").with_source(ListSource([1], continuous=True))
    builder.add_pipeline("batch").with_source(ListSource([2]))
    assert list(run_once(builder)) == ["batch"]
    with pytest.raises(ConfigError, match="pipeline 'live' reads a continuous source"):
        run_once(builder, ["live"])
    with pytest.raises(ConfigError, match=r"no pipeline 'btach' \(did you mean 'batch'\?\)"):
        run_once(builder, ["btach"])


def test_a_pipeline_writing_to_a_stream_has_no_single_run() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("make").with_source(ListSource([1])).send("stream", name="s")
    builder.add_pipeline("read").with_stream_connector("s")
    with pytest.raises(ConfigError, match="no scheduled pipeline"):
        run_once(builder)
    with pytest.raises(ConfigError, match="pipeline 'make' writes to a stream"):
        run_once(builder, ["make", "read"])


@pytest.mark.parametrize("use_threads", MODES)
def test_list_stand_ins_with_process_stages(use_threads: bool) -> None:
    """The stand-ins are pickled into worker processes and still add to the test's lists."""
    storage, sender = ListStorage(), ListSender()
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("p").with_source(ListSource(range(20))).with_core_logic(
        tenfold, kind="process", workers=2
    ).with_storage(storage, kind="process", workers=2).send(sender, kind="process", workers=2)
    builder.build().launch_flow(execution_seconds=60)
    expected = [i * 10 for i in range(20)]
    assert sorted(storage.items) == expected
    assert sorted(sender.items) == expected
    storage.clear()
    sender.clear()
    result = run_once(builder)["p"]
    assert sorted(result.items) == expected
    assert sorted(storage.items) == sorted(sender.items) == expected


def test_reading_a_list_storage_while_processes_append_sees_whole_records() -> None:
    """Big records appended by worker processes while the test reads: never half a record."""
    storage = ListStorage()
    big = ["x" * 100_000]
    stage = weirflow.process.each(lambda _: storage.save_many(big * 3), range(12), workers=3)
    seen: list[int] = []
    reader = threading.Thread(target=lambda: [seen.append(len(storage.items)) for _ in range(50)])
    reader.start()
    weirflow.process.run(stage)
    reader.join(60)
    assert all(count % 3 == 0 for count in seen)
    assert len(storage.items) == 36
