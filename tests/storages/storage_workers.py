"""Code the storage tests run in other processes: concurrent writers, and writers that die.

Imported by name in ``spawn`` children (the ``workers`` fixture puts this folder on
``sys.path``), and run as a script by the crash tests::

    python storage_workers.py KIND PATH FIRST [TEAR_AFTER]

which saves ``{"n": FIRST}``, ``{"n": FIRST + 1}``, ... forever, printing each ``n`` once its save
has returned. With ``TEAR_AFTER``, the save after that many is cut: it writes half of its bytes
and the process kills itself with SIGKILL, as a crash in the middle of a write would.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

PAYLOAD = "x" * 4000


def save_items(storage: Any, worker: int, count: int, start: Any) -> None:
    """Wait for ``start``, then save ``count`` items one by one."""
    start.wait()
    for n in range(count):
        storage.save({"worker": worker, "n": n})
    storage.close()


def tear_writes() -> None:
    """Make the next file write stop halfway and kill the process."""
    from weirflow.storages import _files

    def write_half_then_die(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    _files._write_all = write_half_then_die


def save_forever(kind: str, path: str, first: int, tear_after: int | None) -> None:
    from weirflow.storages import create_storage

    storage = create_storage(kind, pipeline="crash", options={"path": path})
    n = first
    while True:
        if tear_after is not None and n - first == tear_after:
            tear_writes()
        storage.save({"n": n, "payload": PAYLOAD})
        print(n, flush=True)
        n += 1


if __name__ == "__main__":
    tear = int(sys.argv[4]) if len(sys.argv) > 4 else None
    save_forever(sys.argv[1], sys.argv[2], int(sys.argv[3]), tear)
