"""The ``ray`` back end: placement options, actors' lifetimes, failures, flows; on a local Ray.

The operator and failure tests run under ``ray`` too (the kind matrix of ``conftest.py``); these
are what only Ray has. They share the test run's one local Ray (``ray_cluster``: it takes seconds
to start). Which actors are alive is read from Ray's control store (GCS), the same truth Ray's
state API shows without needing its dashboard.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import weirflow
from weirflow import FlowBuilder
from weirflow.testing import Recorder

pytestmark = pytest.mark.usefixtures("ray_cluster")


def alive_actors() -> list[str]:
    """The actors of this job not dead yet."""
    import ray

    job = ray.get_runtime_context().get_job_id()
    return [
        actor_id
        for actor_id, info in ray._private.state.actors().items()
        if info["State"] != "DEAD" and info["JobID"] == job
    ]


def eventually(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def no_actor_left_behind() -> Iterator[None]:
    yield
    eventually(lambda: not alive_actors())


# -- the operators' extra options ---------------------------------------------------------------


def test_actors_are_placed_with_the_resources_and_environment_asked_for() -> None:
    def where(x: int) -> tuple[int, str, bool]:
        import ray

        assigned = ray.get_runtime_context().get_assigned_resources()
        return x, os.environ["WEIRFLOW_MODE"], assigned.get("weirflow_test") == 0.5

    stage = weirflow.ray.map(
        where,
        range(4),
        workers=2,
        num_cpus=0.25,
        resources={"weirflow_test": 0.5},
        runtime_env={"env_vars": {"WEIRFLOW_MODE": "remote"}},
    )
    assert sorted(stage) == [(x, "remote", True) for x in range(4)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_cpus": -1}, "num_cpus must be a finite number >= 0"),
        ({"num_gpus": float("nan")}, "num_gpus must be"),
        ({"resources": ["gpu"]}, "resources must be a dict"),
        ({"resources": {"gpu": -2}}, "resources['gpu'] must be"),
        ({"runtime_env": "env"}, "runtime_env must be a dict"),
    ],
)
def test_bad_placement_options_are_refused_when_the_stage_is_made(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(weirflow.InvalidArgumentError, match=r"stage 'ray\.map\(abs\)'") as info:
        weirflow.ray.map(abs, [1], **options)
    assert message in str(info.value)


def test_every_operator_and_partials_with_pipes() -> None:
    double = weirflow.ray.map(lambda x: x * 2, workers=2, num_cpus=0.25)
    stage = range(10) | double | weirflow.ray.filter(lambda x: x % 4 == 0, num_cpus=0.25)
    stage = weirflow.ray.flat_map(lambda x: [x, x], stage, num_cpus=0.25)
    merged = weirflow.ray.concat([stage, weirflow.ray.from_iterable([100])])
    assert sorted(weirflow.ray.to_iterable(merged)) == [0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 100]
    assert list(weirflow.ray.ordered(weirflow.ray.map(str, range(5), workers=3))) == list("01234")


@pytest.mark.parametrize("other", ["sync", "thread", "task", "process"])
def test_a_ray_stage_mixes_with_every_kind_both_ways(other: str) -> None:
    kind = getattr(weirflow, other)
    stage = kind.map(lambda x: x + 1, range(50), workers=1 if other == "sync" else 2)
    stage = weirflow.ray.map(lambda x: x * 10, stage, workers=2, maxsize=5, num_cpus=0.25)
    stage = kind.filter(lambda x: x % 20 == 0, stage, maxsize=5)
    assert sorted(stage) == [x * 10 for x in range(1, 51) if x * 10 % 20 == 0]


# -- actors' lifetimes --------------------------------------------------------------------------


def test_hooks_run_inside_each_actor_once(tmp_path: Path) -> None:
    started, finished = Recorder(tmp_path / "started"), Recorder(tmp_path / "finished")
    driver = os.getpid()

    def on_start(worker_info: weirflow.WorkerInfo) -> dict[str, Any]:
        started((worker_info.index, os.getpid() != driver))
        return {"pid": os.getpid()}

    def on_done(pid: int) -> None:
        finished(pid == os.getpid())

    stage = weirflow.ray.map(
        lambda x, pid: pid, range(40), workers=3, on_start=on_start, on_done=on_done
    )
    pids = set(stage)
    assert driver not in pids
    assert sorted(started.values()) == [str((i, True)) for i in range(3)]
    assert finished.values() == ["True"] * 3


def test_break_kills_the_actors_after_on_done(tmp_path: Path) -> None:
    finished = Recorder(tmp_path / "finished")
    stage = weirflow.ray.map(
        lambda x: x, iter(range(10**9)), workers=2, maxsize=4, on_done=lambda: finished("done")
    )
    for value in stage:
        if value > 10:
            break
    assert finished.values() == ["'done'", "'done'"]
    eventually(lambda: not alive_actors())


def test_a_failure_elsewhere_kills_the_actors(tmp_path: Path) -> None:
    finished = Recorder(tmp_path / "finished")

    def explode(x: int) -> int:
        if x == 30:
            raise KeyError("downstream")
        return x

    stage = weirflow.ray.map(
        lambda x: x, range(10**6), workers=2, maxsize=8, on_done=lambda: finished("done")
    )
    with pytest.raises(KeyError, match="downstream"):
        list(weirflow.thread.map(explode, stage, maxsize=8))
    assert finished.values() == ["'done'", "'done'"]
    eventually(lambda: not alive_actors())


def test_an_actor_that_dies_is_worker_died_naming_the_stage() -> None:
    def die_on_7(x: int) -> int:
        if x == 7:
            os._exit(3)
        return x

    started = time.monotonic()
    with pytest.raises(weirflow.WorkerDied) as info:
        list(weirflow.ray.map(die_on_7, range(100), workers=2))
    assert info.value.stage == "ray.map(die_on_7)"
    assert any("Ray actor is gone" in note for note in info.value.__notes__)
    assert time.monotonic() - started < 30  # seconds, never a hang (the generous bound: CI)


def test_an_error_in_a_result_that_does_not_pickle_names_the_stage() -> None:
    with pytest.raises(weirflow.SerializationError, match=r"ray.map\(<lambda>\).*Ray actor"):
        list(weirflow.ray.map(lambda x: lambda: x, [1]))


def test_more_actors_than_cpus_do_not_hang_the_stage(caplog: pytest.LogCaptureFixture) -> None:
    # the test cluster has 16 CPUs: some of these actors wait, the others do the work
    stage = weirflow.ray.map(lambda x: x, range(20), workers=5, num_cpus=5)
    assert sorted(stage) == list(range(20))
    assert "some actors wait for CPUs" in caplog.text


# -- flows --------------------------------------------------------------------------------------


def _image_like(item: int) -> dict[str, int]:
    return {"item": item, "square": item * item, "pid": os.getpid()}


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_a_service_stage_on_ray_in_both_flow_modes(tmp_path: Path, use_threads: bool) -> None:
    path = tmp_path / "out.jsonl"
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("images").with_core_logic(lambda: iter(range(30))).with_core_logic(
        _image_like, kind="ray", workers=2, maxsize=6, ray_options={"num_cpus": 0.5}
    ).with_storage("jsonl", path=str(path), kind="ray", ray_options={"num_cpus": 0.25})
    flow = builder.build()
    address_before = os.environ.get("RAY_ADDRESS")
    flow.launch_flow(execution_seconds=120)
    rows = flow.storage("images").load()
    assert sorted(row["square"] for row in rows) == [x * x for x in range(30)]
    assert os.getpid() not in {row["pid"] for row in rows}
    # the pipeline processes were told the cluster's address; the program's environment was
    # not (a later program's child would try a cluster that is gone)
    assert os.environ.get("RAY_ADDRESS") == address_before


def test_ray_options_are_checked_when_the_flow_is_built() -> None:
    pipeline = FlowBuilder().add_pipeline("p")
    with pytest.raises(weirflow.ConfigError, match=r"'p.core_logic'.*did you mean 'num_cpus'"):
        pipeline.with_core_logic(abs, kind="ray", ray_options={"num_cpu": 1})
    with pytest.raises(weirflow.ConfigError, match="ray_options= is for kind='ray' stages"):
        pipeline.with_core_logic(abs, kind="thread", ray_options={"num_cpus": 1})
    with pytest.raises(weirflow.ConfigError, match=r"'p.send'.*num_gpus must be"):
        pipeline.send(print, kind="ray", ray_options={"num_gpus": -1})


class _DiesOnce:
    """Kills its actor the first time it runs (a marker file remembers it did)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, item: int) -> int:
        if item == 5 and not self.marker.exists():
            self.marker.write_text("died")
            os._exit(9)
        return item


def test_restart_policy_starts_fresh_actors(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    builder = FlowBuilder()
    builder.add_pipeline(
        "p", on_failure="restart", max_restarts=2, restart_backoff_seconds=0
    ).with_core_logic(lambda: iter(range(10))).with_core_logic(
        _DiesOnce(tmp_path / "marker"), kind="ray", ray_options={"num_cpus": 0.5}
    ).with_storage("jsonl", path=str(path))
    flow = builder.build()
    flow.launch_flow(execution_seconds=120)
    assert flow.statistics()["p"]["restarts"] == 1
    assert set(range(10)) <= set(flow.storage("p").load())
