"""File primitives and the JSON kinds' handling of damaged, foreign or leftover files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from weirflow.storages import JsonLinesStorage, JsonStorage, _files


def test_repair_tail_truncates_after_the_last_newline(tmp_path: Path) -> None:
    path = tmp_path / "f"
    cases = [
        (b"", b""),
        (b"a\n", b"a\n"),
        (b"a\nb", b"a\n"),
        (b"no newline at all", b""),
        (b"a\n" + b"x" * 200_000, b"a\n"),  # a torn line longer than the read chunk
        (b"a\n" + b"y\n" * 50_000 + b"torn", b"a\n" + b"y\n" * 50_000),
    ]
    for content, repaired in cases:
        path.write_bytes(content)
        fd = os.open(path, os.O_RDWR)
        try:
            assert _files.repair_tail(fd) == len(repaired)
        finally:
            os.close(fd)
        assert path.read_bytes() == repaired


def test_read_first_line(tmp_path: Path) -> None:
    path = tmp_path / "f"
    for content, first in [(b"", b""), (b"abc", b""), (b"h1,h2\nrow\n", b"h1,h2")]:
        path.write_bytes(content)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert _files.read_first_line(fd) == first
        finally:
            os.close(fd)
    path.write_bytes(b"h" * 100_000 + b"\nrow\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert _files.read_first_line(fd) == b"h" * 100_000
    finally:
        os.close(fd)


def test_complete_lines_leave_out_a_torn_tail() -> None:
    assert _files.complete_lines(b"") == []
    assert _files.complete_lines(b"a\nb\n") == [b"a", b"b"]
    assert _files.complete_lines(b"a\nb") == [b"a"]


def test_atomic_replace_keeps_permissions_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("old")
    path.chmod(0o640)
    _files.atomic_replace(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]


def test_ensure_parent_creates_missing_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c" / "file"
    _files.ensure_parent(target)
    assert target.parent.is_dir()
    _files.ensure_parent(target)


def test_stale_temporaries_of_other_files_are_kept(tmp_path: Path) -> None:
    (tmp_path / ".data.json.abc.tmp").write_text("stale")
    (tmp_path / ".other.json.abc.tmp").write_text("not ours")
    (tmp_path / ".data[1].json.abc.tmp").write_text("not ours either")
    storage = JsonStorage(tmp_path / "data.json")
    storage.save(1)
    assert sorted(p.name for p in tmp_path.glob(".*.tmp")) == [
        ".data[1].json.abc.tmp",
        ".other.json.abc.tmp",
    ]


def test_a_sidecar_lock_file_is_used(tmp_path: Path) -> None:
    JsonLinesStorage(tmp_path / "x.jsonl").save(1)
    assert (tmp_path / "x.jsonl.lock").exists()


def test_storages_of_one_target_through_a_symlink_share_the_lock(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    a = JsonStorage(tmp_path / "real" / "x.json")
    b = JsonStorage(tmp_path / "link" / "x.json")
    a.save(1)
    b.save(2)
    assert a.load() == [1, 2]
    assert list((tmp_path / "real").glob("*.lock")) == [tmp_path / "real" / "x.json.lock"]


def test_jsonl_torn_last_line_is_ignored_then_repaired(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    storage = JsonLinesStorage(path)
    storage.save_many([{"n": 1}, {"n": 2}])
    with path.open("ab") as file:
        file.write(b'{"n": 3, "pay')
    assert storage.load() == [{"n": 1}, {"n": 2}]
    storage.save({"n": 4})
    assert path.read_text() == '{"n": 1}\n{"n": 2}\n{"n": 4}\n'


def test_jsonl_overwrite_load_ignores_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n"')
    assert JsonLinesStorage(path, preprocessing="overwrite").load() == {"n": 1}


def test_jsonl_skips_blank_lines_and_reports_damaged_ones(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("1\n\n  \n2\n")
    assert JsonLinesStorage(path).load() == [1, 2]
    path.write_text("1\n{oops\n3\n")
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        JsonLinesStorage(path).load()


def test_json_damaged_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match=r"x\.json': the file is not valid JSON"):
        JsonStorage(path).load()
    with pytest.raises(ValueError, match="does not hold a JSON array"):
        JsonStorage(path).save(3)
    assert path.read_text() == "[1, 2"


@pytest.mark.parametrize("content", ["", "  \n", "[]", " [ ] \n", "[\n1\n]\n"])
def test_json_appends_to_arrays_written_elsewhere(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    storage = JsonStorage(path)
    before = storage.load()
    storage.save({"a": 1})
    assert storage.load() == [*before, {"a": 1}]
