"""The ``csv`` storage: dict items as rows of a CSV file with a typed header.

Encoding (UTF-8, ``,``-separated, ``"``-quoted where needed, one record per physical line)::

    sensor:str,value:float,ok:bool,tags:json
    a,1.5,true,"[""x"", ""y""]"
    b,,false,

* The header is written with the first item: its keys, in order, each with a type suffix taken
  from the first item's value: ``str``, ``int``, ``float``, ``bool``, or ``json`` (anything
  else, ``None`` included). The columns are fixed from then on: a later item with a key that is
  not a column is an error naming the key; a missing key is saved as ``None``.
* An empty cell is ``None``, in every column.
* ``int``, ``float``, ``bool`` and ``json`` cells hold the value as JSON (``7``, ``1.5``,
  ``true``, ``{"a": [1]}``), so nested lists and dicts, and a value of another type than the
  column's (an int in a ``float`` column), read back with their types. ``NaN`` is written ``NaN``.
* ``str`` cells hold the text itself, except for text that is empty, starts with ``"`` or holds
  a line break: that is written as a JSON string literal (``""``, ``"\\"quoted\\""``,
  ``"two\\nlines"``), so a cell starting with ``"`` is always JSON. Only str (or None) values
  fit a ``str`` column.

Appends, crash safety and ``overwrite`` work as in the ``jsonl`` storage: a torn last line is
ignored by ``load`` and truncated by the next save. A header without type suffixes (a file made
elsewhere) reads as all ``str``.

Cells of any length read back: the standard ``csv`` module refuses fields over 131,072
characters by default, so ``load`` raises its process-wide ``csv.field_size_limit`` while it
parses (under a lock, restoring it afterwards); a cell the module could never read
(over :data:`FIELD_LIMIT`) is refused at save, naming the field, so what saves, loads.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._unicode import unencodable_text
from . import _files
from ._filebase import FileStorage


def _widest_field_limit() -> int:
    previous = csv.field_size_limit()
    try:
        csv.field_size_limit(sys.maxsize)
        widest = sys.maxsize
    except OverflowError:  # a platform whose C long is 32 bits
        widest = 2**31 - 1
    finally:
        csv.field_size_limit(previous)
    return widest


FIELD_LIMIT = _widest_field_limit()
"""The longest cell (in characters) the storage saves: the most ``csv`` can be set to read."""

_limit_lock = threading.RLock()


@contextlib.contextmanager
def _wide_fields() -> Iterator[None]:
    """Let ``csv`` read cells of up to :data:`FIELD_LIMIT` characters while inside."""
    with _limit_lock:
        previous = csv.field_size_limit(FIELD_LIMIT)
        try:
            yield
        finally:
            csv.field_size_limit(previous)


_TYPES = ("str", "int", "float", "bool", "json")
Column = tuple[str, str]  # (name, type)


def column_type(value: Any) -> str:
    """The header type of a column whose first value is ``value``."""
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, types):
            return kind
    return "json"


def _line(cells: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode()  # text is checked to encode first (_checked_text)


def _cells(line: bytes) -> list[str]:
    return next(csv.reader([line.decode()]))


class CsvStorage(FileStorage):
    """Dict items kept as rows of a CSV file whose typed header makes every value round-trip.

    See the module docs for the encoding.

    Args:
        path: the file (missing directories are created on the first save).
        preprocessing: ``None``, ``"add_datetime"``, ``"overwrite"``, a function, or a list.

    Example:
        >>> import pathlib, tempfile
        >>> from weirflow.storages import CsvStorage
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     storage = CsvStorage(pathlib.Path(tmp) / "readings.csv")
        ...     storage.save({"sensor": "a", "value": 1.5, "tags": ["x"]})
        ...     storage.save({"sensor": "b", "value": None, "tags": {"k": 1}})
        ...     print((pathlib.Path(tmp) / "readings.csv").read_text(), end="")
        ...     for row in storage.load():
        ...         print(row)
        sensor:str,value:float,tags:json
        a,1.5,"[""x""]"
        b,,"{""k"": 1}"
        {'sensor': 'a', 'value': 1.5, 'tags': ['x']}
        {'sensor': 'b', 'value': None, 'tags': {'k': 1}}
    """

    # -- writing -------------------------------------------------------------------------------

    def _encode(self, values: list[Any]) -> list[Mapping[str, Any]]:
        return [self._checked_record(value) for value in values]

    def _append(self, target: Path, records: list[Mapping[str, Any]]) -> None:
        with _files.open_for_append(target) as (fd, size):
            if size == 0:
                columns = self._header_of(records[0])
                data = _line([f"{name}:{kind}" for name, kind in columns])
            else:
                with _wide_fields():
                    columns = self._parse_header(_files.read_first_line(fd))
                data = b""
            data += b"".join(self._row(record, columns) for record in records)
            _files.append_records(fd, data)

    def _encode_latest(self, value: Any) -> bytes:
        record = self._checked_record(value)
        columns = self._header_of(record)
        return _line([f"{name}:{kind}" for name, kind in columns]) + self._row(record, columns)

    def _checked_record(self, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{self!r}: a csv storage saves dict items (one row each), got "
                f"{type(value).__name__} {value!r}; use the 'jsonl' storage for other items"
            )
        for key in value:
            if not isinstance(key, str) or "\n" in key or "\r" in key:
                raise TypeError(
                    f"{self!r}: csv column names must be str without line breaks, got {key!r}"
                )
            self._checked_text(key, value, None)
        return value

    def _checked_text(self, text: str, record: Mapping[str, Any], name: str | None) -> None:
        """Refuse text that UTF-8 cannot encode (a lone surrogate) or csv could not read."""
        try:
            text.encode()
        except UnicodeEncodeError:
            raise ValueError(unencodable_text(dict(record), repr(self))) from None
        if len(text) > FIELD_LIMIT:
            raise ValueError(
                f"{self!r}: field {name!r} makes a cell of {len(text):,} characters, longer "
                f"than csv can read back ({FIELD_LIMIT:,}); use the 'jsonl' storage"
            )

    def _header_of(self, record: Mapping[str, Any]) -> list[Column]:
        return [(name, column_type(value)) for name, value in record.items()]

    def _row(self, record: Mapping[str, Any], columns: list[Column]) -> bytes:
        names = {name for name, _ in columns}
        for key in record:
            if key not in names:
                raise ValueError(
                    f"{self!r}: field {key!r} is not a column of the file (columns: "
                    f"{', '.join(name for name, _ in columns)}); a csv file's columns are fixed "
                    "by its first item: include the field from the first save on, drop it with "
                    "a preprocessing function, or use the 'jsonl' storage"
                )
        cells = [self._cell(record.get(name), name, kind) for name, kind in columns]
        for (name, _), cell in zip(columns, cells, strict=True):
            self._checked_text(cell, record, name)
        return _line(cells)

    def _cell(self, value: Any, name: str, kind: str) -> str:
        if value is None:
            return ""
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(
                    f"{self!r}: field {name!r} is a str column (its first value was str), got "
                    f"{type(value).__name__} {value!r}; save str or None there, or use 'jsonl'"
                )
            if not value or value.startswith('"') or "\n" in value or "\r" in value:
                return json.dumps(value, ensure_ascii=False)
            return value
        try:
            return json.dumps(value, ensure_ascii=False)
        except TypeError as exc:
            raise TypeError(
                f"{self!r}: field {name!r}: cannot save {type(value).__name__} {value!r} ({exc}); "
                "convert it to str, int, float, bool, None, lists or dicts"
            ) from None

    # -- reading -------------------------------------------------------------------------------

    def _parse_header(self, line: bytes) -> list[Column]:
        columns: list[Column] = []
        for cell in _cells(line):
            name, colon, kind = cell.rpartition(":")
            columns.append((name, kind) if colon and kind in _TYPES else (cell, "str"))
        return columns

    def _decode(self, data: bytes) -> list[Any]:
        lines = _files.complete_lines(data)
        if not lines:
            return []
        with _wide_fields():
            columns = self._parse_header(lines[0])
            return [
                self._record(line, number, columns)
                for number, line in enumerate(lines[1:], start=2)
                if line  # a row always has a cell; a single empty cell is written ""
            ]

    def _decode_latest(self, data: bytes) -> Any:
        records = self._decode(data)
        return records[-1] if records else None

    def _record(self, line: bytes, number: int, columns: list[Column]) -> dict[str, Any]:
        cells = _cells(line)
        if len(cells) != len(columns):
            raise self._error_at(
                f"line {number} has {len(cells)} cells, the header has {len(columns)} columns"
            )
        try:
            return {
                name: self._value(cell, kind)
                for (name, kind), cell in zip(columns, cells, strict=True)
            }
        except ValueError as exc:
            raise self._error_at(f"line {number} holds a cell that is not valid ({exc})") from None

    @staticmethod
    def _value(cell: str, kind: str) -> Any:
        if cell == "":
            return None
        if kind == "str" and not cell.startswith('"'):
            return cell
        return json.loads(cell)
