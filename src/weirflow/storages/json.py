"""The ``json`` storage: one JSON array in one file, always valid, rewritten atomically.

The file looks like::

    [
    {"sensor": "a", "value": 1.5},
    {"sensor": "b", "value": 2.0}
    ]

one item per line. Each save takes the target's lock, reads the file, appends the new items
before the closing bracket and atomically replaces the file, so readers and a crash only ever
see a complete array. A save costs time proportional to the file's size: for long-running
appends prefer ``jsonl``. In ``overwrite`` mode the file holds the latest item alone.

Values must be JSON: dicts with str keys, lists, str, int, float, bool, None (tuples come back
as lists). ``NaN`` and infinities are refused, because they are not valid JSON, and so is text
holding a lone surrogate (``"\\ud800"``), which UTF-8 cannot store: the error names the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._unicode import unencodable_text
from . import _files
from ._filebase import FileStorage


def encode_value(value: Any, owner: str) -> bytes:
    """``value`` as compact single-line JSON, or a ``TypeError``/``ValueError`` naming ``owner``."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except UnicodeEncodeError:
        raise ValueError(unencodable_text(value, owner)) from None
    except RecursionError:
        raise ValueError(
            f"{owner}: cannot save {type(value).__name__} item as JSON: it is nested too "
            "deeply (or holds itself)"
        ) from None
    except (TypeError, ValueError) as exc:
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(
            f"{owner}: cannot save {type(value).__name__} item as JSON ({exc}); convert it "
            "to dicts, lists, str, int, float (not NaN/inf), bool or None, for example with "
            "a preprocessing function"
        ) from None


class JsonStorage(FileStorage):
    """Items kept as one JSON array in a file (see the module docs for the format).

    Args:
        path: the file (missing directories are created on the first save).
        preprocessing: ``None``, ``"add_datetime"``, ``"overwrite"``, a function, or a list.

    Example:
        >>> import pathlib, tempfile
        >>> from weirflow.storages import JsonStorage
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     storage = JsonStorage(pathlib.Path(tmp) / "readings.json")
        ...     storage.save({"sensor": "a", "value": 1.5})
        ...     storage.save_many([{"sensor": "b", "value": 2}, [1, None]])
        ...     storage.load()
        [{'sensor': 'a', 'value': 1.5}, {'sensor': 'b', 'value': 2}, [1, None]]
    """

    def _encode(self, values: list[Any]) -> list[bytes]:
        return [encode_value(value, repr(self)) for value in values]

    def _append(self, target: Path, encoded: list[bytes]) -> None:
        current = _files.read_bytes(target) or b""
        body = current.strip()
        if not body:
            head = b"["
        elif body.startswith(b"[") and body.endswith(b"]"):
            head = body[:-1].rstrip()
        else:
            raise self._error_at(
                "the file does not hold a JSON array (was it written with "
                "preprocessing='overwrite'?); use another path or remove the file"
            )
        separator = b"\n" if head == b"[" else b",\n"
        _files.atomic_replace(target, head + separator + b",\n".join(encoded) + b"\n]\n")

    def _encode_latest(self, value: Any) -> bytes:
        return encode_value(value, repr(self)) + b"\n"

    def _decode(self, data: bytes) -> list[Any]:
        items = self._parse(data)
        if not isinstance(items, list):
            raise self._error_at(
                f"the file holds a single {type(items).__name__}, not a JSON array (was it "
                "written with preprocessing='overwrite'?); load it with that option"
            )
        return items

    def _decode_latest(self, data: bytes) -> Any:
        return self._parse(data) if data.strip() else None

    def _parse(self, data: bytes) -> Any:
        if not data.strip():
            return []
        try:
            return json.loads(data)
        except ValueError as exc:
            raise self._error_at(f"the file is not valid JSON ({exc})") from None
