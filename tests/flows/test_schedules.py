"""Schedules, on a virtual clock: no test here sleeps."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from weirflow import FlowBuilder, PipelineFailed
from weirflow.flows import Pipeline, VirtualClock
from weirflow.flows._pipeline import PipelineRunner
from weirflow.flows._stages import StorageDirectory


def run_pipeline(
    pipeline: Pipeline, clock: VirtualClock, stop: threading.Event
) -> tuple[PipelineRunner, list[PipelineFailed]]:
    failures: list[PipelineFailed] = []
    runner = PipelineRunner(pipeline, StorageDirectory({}), clock, stop, failures.append)
    runner.loop()
    return runner, failures


def recording_pipeline(
    configure: Any, clock: VirtualClock, runs: int, took: float = 0.0
) -> tuple[list[float], threading.Event, Pipeline]:
    """A pipeline whose core logic records the virtual start time; it stops after ``runs``."""
    starts: list[float] = []
    stop = threading.Event()

    def record() -> None:
        starts.append(clock.monotonic())
        clock.advance(took)
        if len(starts) == runs:
            stop.set()

    builder = FlowBuilder()
    configure(builder).with_core_logic(record)
    return starts, stop, builder.build().pipelines[0]


def test_interval_runs_at_once_then_every_period() -> None:
    clock = VirtualClock()
    starts, stop, pipeline = recording_pipeline(
        lambda b: b.add_pipeline("p", timedelta_seconds=10), clock, runs=4
    )
    run_pipeline(pipeline, clock, stop)
    assert starts == [0, 10, 20, 30]


def test_interval_with_a_delay() -> None:
    clock = VirtualClock()
    starts, stop, pipeline = recording_pipeline(
        lambda b: b.add_pipeline("p", timedelta_seconds=10, delay_seconds=3), clock, runs=3
    )
    run_pipeline(pipeline, clock, stop)
    assert starts == [3, 13, 23]


def test_a_run_longer_than_its_period_is_followed_at_once_without_pile_up() -> None:
    clock = VirtualClock()
    starts, stop, pipeline = recording_pipeline(
        lambda b: b.add_pipeline("p", timedelta_seconds=10), clock, runs=3, took=25
    )
    run_pipeline(pipeline, clock, stop)
    assert starts == [0, 25, 50]


def test_cron_runs_on_its_minutes() -> None:
    clock = VirtualClock(datetime(2030, 1, 1, 0, 1, 30, tzinfo=UTC))
    starts, stop, pipeline = recording_pipeline(
        lambda b: b.add_pipeline("p", cron="*/5 * * * *"), clock, runs=3
    )
    run_pipeline(pipeline, clock, stop)
    # 00:05:00, 00:10:00 and 00:15:00, from 00:01:30
    assert starts == [210, 510, 810]


def test_no_schedule_runs_once() -> None:
    clock = VirtualClock()
    starts, stop, pipeline = recording_pipeline(lambda b: b.add_pipeline("p"), clock, runs=99)
    run_pipeline(pipeline, clock, stop)
    assert starts == [0]


def test_once_with_a_delay() -> None:
    clock = VirtualClock()
    starts, stop, pipeline = recording_pipeline(
        lambda b: b.add_pipeline("p", delay_seconds=7), clock, runs=99
    )
    run_pipeline(pipeline, clock, stop)
    assert starts == [7]


def test_stop_while_waiting_ends_the_loop_without_a_run() -> None:
    clock = VirtualClock()
    starts, stop, pipeline = recording_pipeline(
        lambda b: b.add_pipeline("p", timedelta_seconds=10, delay_seconds=5), clock, runs=1
    )
    stop.set()
    run_pipeline(pipeline, clock, stop)
    assert starts == []


class TestPolicies:
    @staticmethod
    def flaky(failures_first: int) -> tuple[Any, list[float], VirtualClock]:
        clock = VirtualClock()
        calls: list[float] = []

        def work() -> int:
            calls.append(clock.monotonic())
            if len(calls) <= failures_first:
                raise ConnectionError(f"attempt {len(calls)}")
            return len(calls)

        return work, calls, clock

    def test_restart_backs_off_exponentially_then_succeeds(self) -> None:
        work, calls, clock = self.flaky(failures_first=3)
        builder = FlowBuilder()
        builder.add_pipeline(
            "p", on_failure="restart", max_restarts=5, restart_backoff_seconds=2
        ).with_core_logic(work)
        runner, failures = run_pipeline(builder.build().pipelines[0], clock, threading.Event())
        assert failures == []
        assert calls == [0, 2, 6, 14]  # backoffs of 2, 4 and 8 seconds
        assert runner.statistics.restarts == 3
        assert runner.statistics.runs == 1

    def test_restart_gives_up_after_max_restarts(self) -> None:
        work, calls, clock = self.flaky(failures_first=10)
        builder = FlowBuilder()
        builder.add_pipeline(
            "p", on_failure="restart", max_restarts=2, restart_backoff_seconds=1
        ).with_core_logic(work)
        _, failures = run_pipeline(builder.build().pipelines[0], clock, threading.Event())
        assert len(calls) == 3
        assert len(failures) == 1
        assert isinstance(failures[0].__cause__, ConnectionError)
        assert failures[0].stage == "p.core_logic"

    def test_continue_counts_failures_and_goes_on(self) -> None:
        work, calls, clock = self.flaky(failures_first=2)
        stop = threading.Event()

        def work_then_stop() -> int:
            try:
                return int(work())
            finally:
                if len(calls) == 4:
                    stop.set()

        builder = FlowBuilder()
        builder.add_pipeline("p", timedelta_seconds=5, on_failure="continue").with_core_logic(
            work_then_stop
        )
        runner, failures = run_pipeline(builder.build().pipelines[0], clock, stop)
        assert failures == []
        assert calls == [0, 5, 10, 15]
        assert runner.statistics.failures == 2
        assert runner.statistics.runs == 2
        assert runner.statistics.last_error == "ConnectionError: attempt 2"

    @pytest.mark.parametrize("policy", ["stop"])
    def test_stop_reports_the_first_failure(self, policy: str) -> None:
        work, calls, clock = self.flaky(failures_first=1)
        builder = FlowBuilder()
        builder.add_pipeline("p", timedelta_seconds=5, on_failure=policy).with_core_logic(work)
        _, failures = run_pipeline(builder.build().pipelines[0], clock, threading.Event())
        assert calls == [0]
        assert [f.pipeline for f in failures] == ["p"]
