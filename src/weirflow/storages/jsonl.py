"""The ``jsonl`` storage: JSON Lines, one item per line, appended and fsynced.

A save appends whole lines under the target's lock and fsyncs before returning, so its cost does
not grow with the file. A writer killed mid-append can leave a torn last line (no trailing
newline): ``load`` ignores it and the next save truncates it before appending. In ``overwrite``
mode the file is atomically replaced by a single line. Values follow the JSON rules of the
``json`` storage (no ``NaN``; tuples come back as lists).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import _files
from ._filebase import FileStorage
from .json import encode_value


class JsonLinesStorage(FileStorage):
    """Items kept as JSON Lines: one compact JSON value per line.

    Args:
        path: the file (missing directories are created on the first save).
        preprocessing: ``None``, ``"add_datetime"``, ``"overwrite"``, a function, or a list.

    Example:
        >>> import pathlib, tempfile
        >>> from weirflow.storages import JsonLinesStorage
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     storage = JsonLinesStorage(pathlib.Path(tmp) / "events.jsonl")
        ...     storage.save({"event": "start"})
        ...     storage.save("plain values work too")
        ...     storage.load()
        [{'event': 'start'}, 'plain values work too']
    """

    def _encode(self, values: list[Any]) -> bytes:
        return b"".join(encode_value(value, repr(self)) + b"\n" for value in values)

    def _append(self, target: Path, encoded: bytes) -> None:
        with _files.open_for_append(target) as (fd, _size):
            _files.append_records(fd, encoded)

    def _encode_latest(self, value: Any) -> bytes:
        return encode_value(value, repr(self)) + b"\n"

    def _decode(self, data: bytes) -> list[Any]:
        items = []
        for number, line in enumerate(_files.complete_lines(data), start=1):
            if line.strip():
                items.append(self._parse(line, number))
        return items

    def _decode_latest(self, data: bytes) -> Any:
        numbered = [
            (number, line)
            for number, line in enumerate(_files.complete_lines(data), start=1)
            if line.strip()
        ]
        return self._parse(numbered[-1][1], numbered[-1][0]) if numbered else None

    def _parse(self, line: bytes, number: int) -> Any:
        try:
            return json.loads(line)
        except ValueError as exc:
            raise self._error_at(f"line {number} is not valid JSON ({exc})") from None
