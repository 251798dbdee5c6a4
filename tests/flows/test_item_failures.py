"""Item-level failures: under ``on_failure="continue"`` a continuous pipeline goes on past an item
that fails (logged, counted, kept as a dead letter) and every other item is stored; ``restart``
reads again without losing the items that were on their way; per-stage retries."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from weirflow import ConfigError, Delivery, FlowBuilder, PipelineFailed, Retry, Source, Storage
from weirflow.testing import Recorder


def ten() -> Iterator[int]:
    yield from range(10)


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"cannot take {x}")
    return x


def lines(path: Path) -> list[Any]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stream_flow(tmp_path: Path, use_threads: bool, kind: str = "thread", **pipeline: Any) -> Any:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("produce").with_core_logic(ten).send("stream", name="numbers")
    builder.add_pipeline("consume", on_failure="continue", **pipeline).with_stream_connector(
        "numbers"
    ).with_core_logic(fail_on_three, kind=kind).with_storage(
        "jsonl", path=str(tmp_path / "out.jsonl")
    )
    return builder.build()


@pytest.mark.parametrize(
    ("use_threads", "kind"),
    [(True, "thread"), (False, "thread"), (True, "process"), (True, "task")],
    ids=["threads", "processes", "process-stage", "task-stage"],
)
def test_continue_stores_every_other_item_of_a_stream(
    tmp_path: Path, use_threads: bool, kind: str
) -> None:
    flow = stream_flow(tmp_path, use_threads, kind)
    flow.launch_flow(execution_seconds=60)  # ends when the stream does
    assert sorted(lines(tmp_path / "out.jsonl")) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    statistics = flow.statistics()["consume"]
    assert statistics["failed_items"] == 1
    assert statistics["items"] == 9
    assert statistics["last_error"] == "ValueError: cannot take 3"


def test_a_failed_item_is_one_warning_line_with_the_traceback_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="weirflow"):
        stream_flow(tmp_path, True).launch_flow(execution_seconds=60)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = warning.getMessage()
    assert "'consume'" in message
    assert "'consume.core_logic'" in message
    assert "ValueError: cannot take 3" in message
    assert "\n" not in message
    assert warning.stage == "consume.core_logic"  # type: ignore[attr-defined]
    tracebacks = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("Traceback" in text and "fail_on_three" in text for text in tracebacks)


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_failed_items_go_to_a_dead_letter_file(tmp_path: Path, use_threads: bool) -> None:
    dead = tmp_path / "dead.jsonl"
    flow = stream_flow(tmp_path, use_threads, dead_letter=str(dead))
    flow.launch_flow(execution_seconds=60)
    assert len(lines(tmp_path / "out.jsonl")) == 9
    [record] = lines(dead)
    assert record["pipeline"] == "consume"
    assert record["stage"] == "consume.core_logic"
    assert record["error_type"] == "ValueError"
    assert record["error"] == "cannot take 3"
    assert record["item"] == 3
    assert record["attempts"] == 1
    assert record["time"].endswith("+00:00")
    assert flow.statistics()["consume"]["dead_letters"] == 1


class Poisoned(Storage):
    """Refuses some items, keeps the others (in memory)."""

    def __init__(self, refuse: set[int]) -> None:
        self.refuse = refuse
        self.saved: list[Any] = []
        self.batches = 0
        self._lock = threading.Lock()

    def save(self, item: Any) -> None:
        self.save_many([item])

    def save_many(self, items: list[Any]) -> None:
        with self._lock:
            self.batches += 1
            bad = [item for item in items if isinstance(item, int) and item in self.refuse]
            if bad:
                raise OverflowError(f"refused {bad[0]!r}")
            self.saved.extend(items)

    def load(self, **query: Any) -> list[Any]:
        return list(self.saved)


def test_a_storage_refusing_an_item_in_a_batch_loses_only_that_item() -> None:
    storage = Poisoned({7})
    kept: list[dict[str, Any]] = []
    builder = FlowBuilder()
    builder.add_pipeline("produce").with_core_logic(lambda: iter(range(50))).send(
        "stream", name="s"
    )
    builder.add_pipeline(
        "consume", on_failure="continue", dead_letter=kept.append
    ).with_stream_connector("s").with_storage(storage).send(lambda item: None)
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(storage.saved) == [x for x in range(50) if x != 7]
    [record] = kept
    assert (record["stage"], record["item"], record["error_type"]) == (
        "consume.storage",
        7,
        "OverflowError",
    )


class Deliveries(Source):
    """A continuous at-least-once source that records acknowledgements."""

    continuous = True
    at_least_once = True

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.acked: list[Any] = []
        self._lock = threading.Lock()

    def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
        for value in self.values:
            yield Delivery(value, lambda value=value: self._ack(value))

    def _ack(self, value: Any) -> None:
        with self._lock:
            self.acked.append(value)


@pytest.mark.parametrize("with_dead_letter", [True, False])
def test_at_least_once_items_are_acknowledged_once_kept_as_dead_letters(
    tmp_path: Path, with_dead_letter: bool
) -> None:
    source = Deliveries(list(range(10)))
    storage = Poisoned({4})
    builder = FlowBuilder()
    options = {"dead_letter": tmp_path / "dead.jsonl"} if with_dead_letter else {}
    builder.add_pipeline("ingest", on_failure="continue", **options).with_source(
        source
    ).with_core_logic(fail_on_three).with_storage(storage)
    flow = builder.build()
    flow.launch_flow(execution_seconds=60)
    assert sorted(storage.saved) == [0, 1, 2, 5, 6, 7, 8, 9]
    if with_dead_letter:
        assert sorted(source.acked) == list(range(10))
        assert sorted(r["item"] for r in lines(tmp_path / "dead.jsonl")) == [3, 4]
    else:  # not kept anywhere: left for the broker to deliver again
        assert sorted(source.acked) == [0, 1, 2, 5, 6, 7, 8, 9]
    assert flow.statistics()["ingest"]["failed_items"] == 2


def test_dead_letters_keep_items_that_are_not_json_as_their_repr(tmp_path: Path) -> None:
    kept = Poisoned(set())

    def explode(x: int) -> Any:
        raise RuntimeError("no")

    builder = FlowBuilder()
    builder.add_pipeline("p", on_failure="continue", dead_letter=kept).with_core_logic(
        lambda: [float("nan"), {1, 2}, "\udc80"]
    ).with_core_logic(lambda values: iter(values)).with_core_logic(explode)
    builder.build().launch_flow(execution_seconds=60)
    records = sorted(kept.saved, key=lambda r: r["item_repr"])
    assert [r["item_repr"] for r in records] == ["'\\udc80'", "nan", "{1, 2}"]
    assert all(r["item"] is None for r in records)
    json.dumps(records, allow_nan=False, ensure_ascii=False).encode("utf-8")  # all storable


def test_a_scheduled_pipeline_with_dead_letters_sets_failed_items_aside(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    builder = FlowBuilder()
    builder.add_pipeline("batch", on_failure="continue", dead_letter=dead).with_core_logic(
        ten
    ).with_core_logic(fail_on_three).with_storage("jsonl", path=str(tmp_path / "out.jsonl"))
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(lines(tmp_path / "out.jsonl")) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert [r["item"] for r in lines(dead)] == [3]


def test_a_generator_failing_midway_keeps_what_it_yielded(tmp_path: Path) -> None:
    def expand(x: int) -> Iterator[int]:
        yield x * 10
        if x == 2:
            raise KeyError("missing")
        yield x * 10 + 1

    builder = FlowBuilder()
    dead = tmp_path / "dead.jsonl"
    builder.add_pipeline("produce").with_core_logic(lambda: iter(range(4))).send("stream", name="s")
    builder.add_pipeline("consume", on_failure="continue", dead_letter=dead).with_stream_connector(
        "s"
    ).with_core_logic(expand).with_storage("jsonl", path=str(tmp_path / "out.jsonl"))
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(lines(tmp_path / "out.jsonl")) == [0, 1, 10, 11, 20, 30, 31]
    assert [(r["item"], r["error_type"]) for r in lines(dead)] == [(2, "KeyError")]


def test_stop_still_stops_the_flow_at_the_first_failing_item(tmp_path: Path) -> None:
    builder = FlowBuilder()
    builder.add_pipeline("produce").with_core_logic(ten).send("stream", name="s")
    builder.add_pipeline("consume", on_failure="stop").with_stream_connector("s").with_core_logic(
        fail_on_three
    ).with_storage("jsonl", path=str(tmp_path / "out.jsonl"))
    with pytest.raises(PipelineFailed) as info:
        builder.build().launch_flow(execution_seconds=60)
    assert info.value.stage == "consume.core_logic"
    assert isinstance(info.value.__cause__, ValueError)


class FailsFirst(Storage):
    """Refuses its first ``failures`` batches, then keeps everything."""

    def __init__(self, failures: int, after: int = 0) -> None:
        self.failures = failures
        self.after = after  # let this many batches through first
        self.saved: list[Any] = []
        self.calls = 0
        self._lock = threading.Lock()

    def save(self, item: Any) -> None:
        self.save_many([item])

    def save_many(self, items: list[Any]) -> None:
        with self._lock:
            self.calls += 1
            if self.after < self.calls <= self.after + self.failures:
                raise ConnectionError(f"database away (call {self.calls})")
            self.saved.extend(items)

    def load(self, **query: Any) -> list[Any]:
        return list(self.saved)


@pytest.mark.parametrize("workers", [1, 3])
def test_a_restart_of_a_stream_reader_loses_no_item(workers: int) -> None:
    storage = FailsFirst(failures=2, after=5)
    builder = FlowBuilder()  # (in processes the storage would be a copy: see the next test)
    builder.add_pipeline("produce").with_core_logic(lambda: iter(range(50))).send(
        "stream", name="s"
    )
    builder.add_pipeline(
        "consume", on_failure="restart", max_restarts=5, restart_backoff_seconds=0
    ).with_stream_connector("s", maxsize=4).with_core_logic(
        lambda x: x, workers=workers, maxsize=4
    ).with_storage(storage, maxsize=4)
    flow = builder.build()
    flow.launch_flow(execution_seconds=60)
    assert sorted(set(storage.saved)) == list(range(50))
    assert flow.statistics()["consume"]["restarts"] == 2


class FailsFirstOnDisk(Storage):
    """Appends to a JSON-lines file; refuses the first ``failures`` saves after ``after`` saves
    (counted in a file, so every process sees the same count)."""

    def __init__(self, path: Path, failures: int, after: int) -> None:
        self.path, self.failures, self.after = path, failures, after

    def save(self, item: Any) -> None:
        self.save_many([item])

    def save_many(self, items: list[Any]) -> None:
        counter = self.path.with_suffix(".calls")
        calls = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.with_suffix(".tmp").write_text(str(calls))
        counter.with_suffix(".tmp").replace(counter)  # readers never see a half-written count
        if self.after < calls <= self.after + self.failures:
            raise ConnectionError(f"database away (call {calls})")
        with self.path.open("a") as file:
            file.writelines(json.dumps(item) + "\n" for item in items)

    def load(self, **query: Any) -> list[Any]:
        return lines(self.path)


def test_a_restart_of_a_stream_reader_in_a_process_loses_no_item(tmp_path: Path) -> None:
    storage = FailsFirstOnDisk(tmp_path / "out.jsonl", failures=2, after=5)
    builder = FlowBuilder(use_threads=False)
    builder.add_pipeline("produce").with_core_logic(lambda: iter(range(50))).send(
        "stream", name="s"
    )
    builder.add_pipeline(
        "consume", on_failure="restart", max_restarts=5, restart_backoff_seconds=0
    ).with_stream_connector("s", maxsize=4).with_storage(storage, maxsize=4)
    flow = builder.build()
    flow.launch_flow(execution_seconds=60)
    assert sorted(set(storage.load())) == list(range(50))
    assert flow.statistics()["consume"]["restarts"] == 2


def test_retries_try_an_item_again_before_it_fails(tmp_path: Path) -> None:
    calls = Recorder(tmp_path / "calls")

    def flaky(x: int) -> int:
        calls(x)
        if x == 3 and len([c for c in calls.values() if c == "3"]) < 3:
            raise TimeoutError("slow sensor")
        return x

    storage = FailsFirst(failures=2, after=1)
    builder = FlowBuilder()
    builder.add_pipeline("p").with_core_logic(ten).with_core_logic(
        flaky, retries=2, retry_backoff=0
    ).with_storage(storage, retries=Retry(attempts=3, backoff=0))
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(storage.saved) == list(range(10))
    assert calls.values().count("3") == 3


def test_retries_run_out_then_the_item_is_a_dead_letter_with_its_attempts(
    tmp_path: Path,
) -> None:
    kept: list[dict[str, Any]] = []

    def never(item: int) -> None:
        raise ConnectionRefusedError("endpoint down")

    builder = FlowBuilder()
    builder.add_pipeline("p", on_failure="continue", dead_letter=kept.append).with_core_logic(
        lambda: 1
    ).send(never, retries=2, retry_backoff=0)
    builder.build().launch_flow(execution_seconds=60)
    [record] = kept
    assert (record["stage"], record["attempts"]) == ("p.send", 3)


def test_retries_and_dead_letters_are_checked_at_build_and_described(tmp_path: Path) -> None:
    builder = FlowBuilder()
    pipeline = builder.add_pipeline("p")
    with pytest.raises(ConfigError, match=r"'p\.core_logic'.*retries"):
        pipeline.with_core_logic(fail_on_three, retries=-1)
    with pytest.raises(ConfigError, match="retry_backoff"):
        pipeline.with_core_logic(fail_on_three, retries=1, retry_backoff=float("nan"))
    with pytest.raises(ConfigError, match="retries"):
        pipeline.send(print, retries="3")
    with pytest.raises(ConfigError, match="dead_letter must be a path"):
        FlowBuilder().add_pipeline("q", dead_letter=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dead_letter must name a file"):
        FlowBuilder().add_pipeline("q", dead_letter=tmp_path)
    builder = FlowBuilder()
    builder.add_pipeline(
        "p", on_failure="continue", dead_letter=tmp_path / "d.jsonl"
    ).with_core_logic(ten).with_core_logic(fail_on_three, retries=2).with_storage(
        "jsonl", path=str(tmp_path / "o")
    )
    text = builder.build().describe()
    assert f"dead letters ({tmp_path / 'd.jsonl'})" in text
    assert "retries=2" in text


def test_stopping_the_flow_ends_a_wait_before_a_retry() -> None:
    called = threading.Event()
    calls: list[int] = []

    def down(x: int) -> int:
        calls.append(x)
        called.set()
        raise ConnectionError("endpoint down")

    builder = FlowBuilder()
    builder.add_pipeline("produce").with_core_logic(lambda: 1).send("stream", name="s")
    builder.add_pipeline("consume", on_failure="continue").with_stream_connector(
        "s"
    ).with_core_logic(down, retries=3, retry_backoff=600).send(lambda item: None)
    flow = builder.build()
    stopper = threading.Thread(target=lambda: called.wait(30) and flow.stop())
    stopper.start()
    flow.launch_flow(execution_seconds=60)  # returns: the worker is not left asleep
    stopper.join()
    assert calls == [1]  # no attempt after the stop
