"""In-memory stand-ins for tests: ``ListSource(items)``, ``ListStorage()``, ``ListSender()``.

Give them to a :class:`~weirflow.FlowBuilder` in place of the real source, storage or sender,
run the flow, then look at what arrived. They work with every worker kind and in process mode:
what :class:`ListStorage` and :class:`ListSender` receive is appended to a file (one pickled
record per ``save_many`` or ``send``, written with one ``write`` under an exclusive lock), so
copies pickled into worker processes all add to the same list, and the test reads it from its
own process. The file is a temporary one unless you give a path; it is removed when the object
made in the test is garbage collected (copies in other processes never remove it).

Example:
    >>> from weirflow.testing import ListSender, ListSource, ListStorage
    >>> source, storage, sender = ListSource([1, 2, 3]), ListStorage(), ListSender()
    >>> for item in source.read({}):
    ...     storage.save(item * 10)
    ...     sender.send({"value": item})
    >>> storage.items, storage.load()
    ([10, 20, 30], [10, 20, 30])
    >>> sender.items[-1]
    {'value': 3}
"""

from __future__ import annotations

import fcntl
import os
import pickle
import struct
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..abc import Sender, Source, Storage

__all__ = ["ListSender", "ListSource", "ListStorage"]

_HEADER = struct.Struct(">Q")


class _Records:
    """A file of length-prefixed pickled records, appended from any thread or process."""

    def __init__(self, path: str | os.PathLike[str] | None, prefix: str) -> None:
        if path is None:
            fd, name = tempfile.mkstemp(prefix=f"weirflow-{prefix}-", suffix=".pickles")
            os.close(fd)
            self.path = Path(name)
            weakref.finalize(self, _remove, self.path)
        else:
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    def append(self, values: list[Any]) -> None:
        data = pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
        record = _HEADER.pack(len(data)) + data
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # a record is never interleaved with another
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)  # releases the lock

    def read(self) -> list[Any]:
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # never half a record being appended
            with os.fdopen(os.dup(fd), "rb") as file:
                data = file.read()
        finally:
            os.close(fd)
        values: list[Any] = []
        offset = 0
        while offset < len(data):
            (size,) = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            values.extend(pickle.loads(data[offset : offset + size]))
            offset += size
        return values

    def clear(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}  # a copy never removes the file

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


class _Listed:
    """What the two recording stand-ins share: the file of records and reading it back."""

    _records: _Records
    path: Path

    def _open_records(self, path: str | os.PathLike[str] | None, prefix: str) -> None:
        self._records = _Records(path, prefix)
        self.path = self._records.path

    @property
    def items(self) -> list[Any]:
        """Everything kept so far, by any thread or process, in the order kept."""
        return self._records.read()

    def clear(self) -> None:
        """Forget everything kept so far."""
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records.read())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


class ListStorage(_Listed, Storage):
    """A storage that keeps every item in a list, shared by threads and worker processes.

    Items must be picklable; they come back equal to what was saved, types included (a
    ``datetime`` stays a ``datetime``). A ``save_many`` is one record: another process reading
    meanwhile sees all of the batch or none of it.

    Args:
        path: the file that holds the items; by default a temporary file, removed when this
            object is garbage collected.

    Attributes:
        path: that file.

    Example:
        >>> from datetime import datetime
        >>> storage = ListStorage()
        >>> storage.save_many([{"at": datetime(2030, 1, 1)}, {"at": None}])
        >>> storage.items
        [{'at': datetime.datetime(2030, 1, 1, 0, 0)}, {'at': None}]
        >>> storage.clear(); storage.items
        []
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._open_records(path, "storage")

    def save_many(self, items: list[Any]) -> None:
        """Append ``items`` (one record, with one write)."""
        items = list(items)
        if items:
            self._records.append(items)

    def load(self, **query: Any) -> list[Any]:
        """Every item saved so far, in the order saved (takes no query)."""
        if query:
            raise TypeError(f"ListStorage.load() takes no query arguments, got {sorted(query)}")
        return self._records.read()


class ListSender(_Listed, Sender):
    """A sender that keeps every item it is given in a list, shared by threads and processes.

    Args:
        path: the file that holds the items; by default a temporary file, removed when this
            object is garbage collected.

    Example:
        >>> sender = ListSender()
        >>> sender.send({"mean": 4.5})
        >>> sender.items, len(sender)
        ([{'mean': 4.5}], 1)
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._open_records(path, "sender")

    def send(self, item: Any) -> None:
        """Keep ``item`` (it must be picklable)."""
        self._records.append([item])


class ListSource(Source):
    """A source that yields the same items on every run.

    Each ``read`` yields the items in order (the parameters of a configuration stage are
    ignored). With ``continuous=True`` it is a stream: ``read`` yields the items, then waits
    until :meth:`close` and returns, as a subscription does. It is picklable when the items
    are (process mode pickles it into the worker process).

    Args:
        items: what each run yields.
        continuous: behave as a continuous source (its pipeline has no schedule).

    Example:
        >>> source = ListSource([{"t": 21.5}, {"t": 22.0}])
        >>> list(source.read({})) == list(source.read({"city": "Oslo"}))
        True
    """

    _unpicklable = ("_closed",)

    def __init__(self, items: Iterable[Any], *, continuous: bool = False) -> None:
        self.items = list(items)
        self.continuous = bool(continuous)
        self._reset()

    def _reset(self) -> None:
        self._closed = threading.Event()

    def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
        """Yield the items; a continuous source then waits for :meth:`close`."""
        yield from self.items
        if self.continuous:
            self._closed.wait()

    def close(self) -> None:
        """Make a continuous ``read`` return (idempotent)."""
        self._closed.set()

    def __repr__(self) -> str:
        kind = ", continuous=True" if self.continuous else ""
        return f"ListSource({len(self.items)} items{kind})"
