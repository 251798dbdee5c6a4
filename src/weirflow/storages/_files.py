"""File primitives the file storages are built on: locking, atomic replace, crash-safe appends.

Every write to a target happens inside :func:`exclusive`, which serialises writers twice: a
``threading.Lock`` per resolved path (process-wide, because ``flock`` locks belong to an open file
description, and two threads of one process opening the file get two of them) and an exclusive
``fcntl.flock`` on a sidecar ``<name>.lock`` file, which serialises processes. Sidecar lock files
are left in place on purpose: deleting a lock file while another process waits on it would let
two writers in at once.

Two ways to write durably:

* :func:`atomic_replace` writes a temporary file in the same directory, flushes and fsyncs it,
  ``os.replace``-s it over the target and fsyncs the directory. A reader (or a crash) sees the old
  file or the new one, never a mix. Used by the JSON storage and by every ``overwrite`` mode.
* :func:`append_records` appends whole lines with ``O_APPEND`` and fsyncs. A process killed
  mid-write can leave a *torn* last line (no trailing newline); :func:`complete_lines` ignores
  it and :func:`repair_tail` (called by the next writer, under the lock) truncates it, so what an
  earlier append committed is never lost.

POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 64 * 1024

_registry_lock = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}


def _reset_after_fork() -> None:
    # A child forked while another thread held one of these locks would inherit it held forever.
    global _registry_lock, _thread_locks
    _registry_lock = threading.Lock()
    _thread_locks = {}


os.register_at_fork(after_in_child=_reset_after_fork)


def _thread_lock(key: str) -> threading.Lock:
    with _registry_lock:
        lock = _thread_locks.get(key)
        if lock is None:
            lock = _thread_locks[key] = threading.Lock()
        return lock


def lock_path(path: Path) -> Path:
    """The sidecar lock file of ``path`` (``data.json`` → ``data.json.lock``)."""
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the write lock of ``path`` against every thread and process (blocking).

    ``path`` should be absolute and resolved, so that every storage of one target shares a lock.
    The parent directory must exist.
    """
    with _thread_lock(str(path)):
        fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock


def ensure_parent(path: Path) -> None:
    """Create the missing directories above ``path``, durably."""
    parent = path.parent
    if parent.is_dir():
        return
    missing: list[Path] = []
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
        fsync_directory(directory.parent)


def fsync_directory(directory: Path) -> None:
    """Make the directory's entries (a created or replaced file) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_replace(path: Path, data: bytes) -> None:
    """Replace ``path``'s content with ``data`` atomically and durably.

    The temporary file is ``.<name>.<random>.tmp`` next to the target; a crash can leave one
    behind (see :func:`remove_stale_temporaries`). An existing target's permissions are kept.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        try:
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(fd, os.stat(path).st_mode & 0o7777)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files a killed writer of ``path`` left behind (call under the lock)."""
    for stale in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def repair_tail(fd: int) -> int:
    """Truncate a torn last line (bytes after the last newline) and return the new size."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline != -1:
            keep = start + newline + 1
            break
        end = start
    else:
        keep = 0
    if keep != size:
        os.ftruncate(fd, keep)
    return keep


def read_first_line(fd: int) -> bytes:
    """The first complete line of the open file, without its newline (``b""`` if none)."""
    data = b""
    offset = 0
    while True:
        chunk = os.pread(fd, _CHUNK, offset)
        if not chunk:
            return b""
        newline = chunk.find(b"\n")
        if newline != -1:
            return data + chunk[:newline]
        data += chunk
        offset += len(chunk)


@contextlib.contextmanager
def open_for_append(path: Path) -> Iterator[tuple[int, int]]:
    """Open ``path`` for appending (creating it durably) with any torn tail repaired.

    Yields ``(fd, size)``; call under :func:`exclusive`. Write with :func:`append_records`.
    """
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
    try:
        if created:
            fsync_directory(path.parent)
        yield fd, repair_tail(fd)
    finally:
        os.close(fd)


def append_records(fd: int, data: bytes) -> None:
    """Append ``data`` (whole lines) and make it durable before returning."""
    _write_all(fd, data)
    os.fsync(fd)


def complete_lines(data: bytes) -> list[bytes]:
    """The newline-terminated lines of ``data``; a torn last line is left out."""
    lines = data.split(b"\n")
    lines.pop()  # b"" after a final newline, or the torn tail
    return lines


def read_bytes(path: Path) -> bytes | None:
    """The file's content, or ``None`` when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
