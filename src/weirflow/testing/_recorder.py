"""``Recorder``: a call-recording function for tests, safe across threads and processes.

A pipeline stage or a sender given a :class:`Recorder` appends what it sees to a file, so a
test can check what happened in worker threads and worker processes alike.

Example:
    >>> import tempfile, pathlib, weirflow as wf
    >>> from weirflow.testing import Recorder
    >>> record = Recorder(pathlib.Path(tempfile.mkdtemp()) / "seen.txt")
    >>> wf.process.each(record, [1, 2], workers=2, run=True)
    >>> sorted(record.values())
    ['1', '2']
"""

from __future__ import annotations

import os
from pathlib import Path


class Recorder:
    """Records values from any worker kind, worker processes included.

    Each call appends ``repr(value)`` as one line to a file (one ``write`` with ``O_APPEND``, so
    concurrent writers from threads and processes do not interleave); :meth:`values` reads
    them back. A recorder is picklable: it is only its path.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.touch()

    def __call__(self, value: object) -> None:
        line = f"{value!r}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def values(self) -> list[str]:
        """Every recorded value's ``repr``, in the order they were written."""
        return self.path.read_text().splitlines()
