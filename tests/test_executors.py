"""The executor registry: every kind is a back end found by name, declaring its traits."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import weirflow
from weirflow._runtime.executors import KINDS, Traits, executor_traits, get_executor_class

SRC = Path(weirflow.__file__).parent


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_a_back_end_implementing_the_protocol(kind: str) -> None:
    cls = get_executor_class(kind)
    assert cls.__module__ == f"weirflow._runtime.executors.{kind}"
    for method in ("start_stage", "cancel", "join", "ajoin"):
        assert callable(getattr(cls, method)), method
    traits = executor_traits(kind)
    assert isinstance(traits, Traits)
    with pytest.raises(dataclasses.FrozenInstanceError):
        traits.awaits = not traits.awaits  # type: ignore[misc]
    assert getattr(weirflow, kind).map  # each kind has its public operators module


def test_the_traits_say_how_each_built_in_kind_behaves() -> None:
    assert [k for k in KINDS if executor_traits(k).pulled] == ["sync"]
    assert [k for k in KINDS if executor_traits(k).awaits] == ["task"]
    assert [k for k in KINDS if executor_traits(k).crosses_process] == ["process", "ray"]
    assert [k for k in KINDS if not executor_traits(k).shares_memory] == ["process", "ray"]


def test_an_unknown_kind_names_the_registered_ones() -> None:
    with pytest.raises(LookupError, match="no worker kind 'dask'; the kinds are sync, thread"):
        get_executor_class("dask")


def test_the_test_matrix_comes_from_the_registry() -> None:
    from tests import conftest

    assert list(KINDS) == conftest.KINDS
    assert [k for k in KINDS if not executor_traits(k).pulled] == conftest.CONCURRENT_KINDS
    ids = [param.id for param in conftest.variants(conftest.KINDS)]
    assert ids == ["sync", "thread", "task", "process+forkserver", "process+spawn", "ray"]


KIND_NAME_COMPARISON = re.compile(
    r"""kind\s*(?:==|!=|is|in)\s*\(?\s*["'](?:sync|thread|task|process|ray)["']"""
    r"""|is weirflow\.(?:sync|thread|task|process|ray)\b"""
)


def test_no_source_module_compares_kind_names() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if KIND_NAME_COMPARISON.search(line)
    ]
    assert not offenders, "ask executor_traits(kind) instead:\n" + "\n".join(offenders)
