"""Every public method of the builders shows a runnable example (the doctests run it)."""

from __future__ import annotations

import inspect

import pytest

from weirflow import FlowBuilder
from weirflow.flows import PipelineBuilder

METHODS = [
    (cls, name)
    for cls in (FlowBuilder, PipelineBuilder)
    for name, member in vars(cls).items()
    if callable(member) and not name.startswith("_")
]


def test_the_builders_have_public_methods() -> None:
    names = {name for _, name in METHODS}
    assert {"add_pipeline", "with_core_logic", "with_storage", "send", "build"} <= names


@pytest.mark.parametrize(
    ("cls", "name"), METHODS, ids=[f"{cls.__name__}.{name}" for cls, name in METHODS]
)
def test_method_has_a_runnable_example(cls: type, name: str) -> None:
    doc = inspect.getdoc(getattr(cls, name)) or ""
    assert "\nExample:\n" in doc, f"{cls.__name__}.{name}: no Example section"
    assert ">>> " in doc.split("\nExample:\n", 1)[1], f"{cls.__name__}.{name}: no doctest"
