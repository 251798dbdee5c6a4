"""Fixtures of the storage tests."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``storage_workers``, importable by name in child processes (its folder is on sys.path)."""
    monkeypatch.syspath_prepend(str(HERE))
    return importlib.import_module("storage_workers")
