"""Many writers, one target: threads and processes saving at once lose nothing."""

from __future__ import annotations

import csv
import json
import multiprocessing
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from weirflow.storages import create_storage

KINDS = ["json", "jsonl", "csv", "sql"]


def make(kind: str, tmp_path: Path) -> Any:
    options: dict[str, Any]
    if kind == "sql":
        options = {"url": f"sqlite:///{tmp_path}/db.sqlite", "table": "items"}
    else:
        options = {"path": tmp_path / "sub" / f"items.{kind}"}
    return create_storage(kind, pipeline="items", options=options)


def check_file_is_valid(kind: str, tmp_path: Path) -> None:
    if kind == "sql":
        return
    text = (tmp_path / "sub" / f"items.{kind}").read_text()
    assert text.endswith("\n")
    if kind == "json":
        assert isinstance(json.loads(text), list)
    elif kind == "jsonl":
        for line in text.splitlines():
            json.loads(line)
    else:
        rows = list(csv.reader(text.splitlines()))
        assert rows[0] == ["worker:int", "n:int"]
        assert all(len(row) == 2 for row in rows)


def saved_pairs(storage: Any) -> list[tuple[int, int]]:
    return sorted((item["worker"], item["n"]) for item in storage.load())


@pytest.mark.parametrize("kind", KINDS)
def test_threads_lose_nothing(kind: str, tmp_path: Path) -> None:
    # Two storage objects on one target: threads share an object, or have their own.
    storages = [make(kind, tmp_path), make(kind, tmp_path)]
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            start.wait()
            for n in range(50):
                storages[worker % 2].save({"worker": worker, "n": n})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert saved_pairs(storages[0]) == [(w, n) for w in range(8) for n in range(50)]
    check_file_is_valid(kind, tmp_path)
    for storage in storages:
        storage.close()


@pytest.mark.parametrize("kind", KINDS)
def test_processes_lose_nothing(kind: str, tmp_path: Path, workers: ModuleType) -> None:
    storage = make(kind, tmp_path)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [
        context.Process(target=workers.save_items, args=(storage, w, 50, start)) for w in range(4)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(30)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert saved_pairs(storage) == [(w, n) for w in range(4) for n in range(50)]
    check_file_is_valid(kind, tmp_path)
    storage.close()


def test_save_many_is_one_batch_among_concurrent_writers(tmp_path: Path) -> None:
    storage = make("jsonl", tmp_path)
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        start.wait()
        for batch in range(10):
            storage.save_many([{"worker": worker, "n": batch * 5 + i} for i in range(5)])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = storage.load()
    assert sorted((i["worker"], i["n"]) for i in items) == [
        (w, n) for w in range(4) for n in range(50)
    ]
    # each batch of five is contiguous in the file
    for start_index in range(0, len(items), 5):
        batch = items[start_index : start_index + 5]
        assert len({item["worker"] for item in batch}) == 1
