"""A writer killed with SIGKILL in the middle of saving loses nothing it had saved.

Each test runs writer processes one after the other on one file: some are killed by the test at
a random moment after they reported a number of saves, one dies in the middle of a write (its
write stops halfway, then it kills itself). After each death the file is valid, ``load`` returns
at least what was reported, in order, and the next writer carries on.
"""

from __future__ import annotations

import csv
import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from weirflow.storages import create_storage

HERE = Path(__file__).parent


def run_writer(
    kind: str, path: Path, first: int, *, kill_at: int | None, tear_after: int | None
) -> int:
    """Run a writer from item ``first``; return how many saves it reported before it died."""
    command = [sys.executable, str(HERE / "storage_workers.py"), kind, str(path), str(first)]
    if tear_after is not None:
        command.append(str(tear_after))
    writer = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    reported = 0
    try:
        for line in writer.stdout:
            reported = int(line) - first + 1
            if kill_at is not None and reported >= kill_at:
                writer.send_signal(signal.SIGKILL)
                break
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    return reported


def check_file_is_valid(kind: str, path: Path) -> None:
    data = path.read_bytes()
    if kind == "json":
        assert isinstance(json.loads(data), list)
        return
    for line in data.split(b"\n")[:-1]:  # only the last line may be torn
        if kind == "jsonl":
            json.loads(line)
        else:
            next(csv.reader([line.decode()]))


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv"])
def test_killed_writers_lose_nothing(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"crash.{kind}"
    storage = create_storage(kind, pipeline="crash", options={"path": path})
    chooser = random.Random(f"{kind}-kill-points")
    rounds = [
        {"kill_at": chooser.randint(1, 20), "tear_after": None},
        {"kill_at": None, "tear_after": chooser.randint(1, 10)},
        {"kill_at": chooser.randint(1, 20), "tear_after": None},
    ]
    saved = 0
    for round_ in rounds:
        reported = run_writer(kind, path, saved, **round_)
        if round_["tear_after"] is not None:
            assert reported == round_["tear_after"]
        check_file_is_valid(kind, path)
        items = storage.load()
        assert len(items) >= saved + reported
        assert [item["n"] for item in items] == list(range(len(items)))
        saved = len(items)  # the next writer carries on after what survived
    storage.save({"n": saved, "payload": "after the crashes"})
    items = storage.load()
    assert [item["n"] for item in items] == list(range(saved + 1))
    assert path.read_bytes().endswith(b"\n")
    assert not list(tmp_path.glob(".*.tmp")), "temporary files left behind"


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_torn_write_is_ignored_then_repaired(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"torn.{kind}"
    reported = run_writer(kind, path, 0, kill_at=None, tear_after=3)
    assert reported == 3
    assert not path.read_bytes().endswith(b"\n"), "the write should have been cut"
    storage = create_storage(kind, pipeline="torn", options={"path": path})
    assert [item["n"] for item in storage.load()] == [0, 1, 2]
    storage.save({"n": 3, "payload": ""})
    assert [item["n"] for item in storage.load()] == [0, 1, 2, 3]
    check_file_is_valid(kind, path)
    assert path.read_bytes().endswith(b"\n")


def test_json_write_cut_short_leaves_the_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "torn.json"
    run_writer("json", path, 0, kill_at=None, tear_after=2)
    assert len(list(tmp_path.glob(".torn.json.*.tmp"))) == 1, "the cut temporary file"
    storage = create_storage("json", pipeline="torn", options={"path": path})
    assert [item["n"] for item in storage.load()] == [0, 1]
    storage.save({"n": 2, "payload": ""})
    assert [item["n"] for item in storage.load()] == [0, 1, 2]
    assert not list(tmp_path.glob(".*.tmp")), "the first save removes stale temporary files"
