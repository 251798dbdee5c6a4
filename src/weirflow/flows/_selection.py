"""Which flow and which of its pipelines to run: :func:`as_flow`, :func:`select_pipelines`.

A selection is the part of the flow that ``weirflow run --pipelines`` runs
(:func:`~weirflow.flows._parts.select_part`): a new :class:`~weirflow.flows.Flow` holding the
chosen pipelines, in the flow's order, with every storage of the flow (core logic may read
another pipeline's storage through ``db_connectors``). Without a broker a stream joins its
writers and its readers: a selection takes all of them or none, since a reader without its
writers would wait for ever and writers without their readers would fill the stream and block.
With a broker (``FlowBuilder(broker=...)``) the other side may run elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._errors import ConfigError
from .._hints import shown
from ._builder import FlowBuilder
from ._flow import Flow
from ._parts import select_part


def as_flow(flow_or_builder: Any, where: str) -> Flow:
    """A :class:`Flow`: ``flow_or_builder`` itself, or a :class:`FlowBuilder` built.

    Raises:
        ConfigError: anything else (``where`` names the call).
    """
    if isinstance(flow_or_builder, FlowBuilder):
        flow: Flow = flow_or_builder.build()
        return flow
    if isinstance(flow_or_builder, Flow):
        return flow_or_builder
    raise ConfigError(
        f"{where} takes a Flow or a FlowBuilder, got {type(flow_or_builder).__name__} "
        f"{shown(flow_or_builder)}"
    )


def select_pipelines(flow: Flow, names: Iterable[str] | str | None) -> Flow:
    """``flow`` with only the pipelines ``names`` (``None``: ``flow`` itself).

    Raises:
        ConfigError: an unknown name (with a "did you mean"), an empty selection, or one
            that cuts a stream without a broker.

    Example:
        >>> from weirflow import FlowBuilder
        >>> builder = FlowBuilder()
        >>> _ = builder.add_pipeline("a").with_core_logic(lambda: 1)
        >>> _ = builder.add_pipeline("b").with_core_logic(lambda: 2)
        >>> [p.name for p in select_pipelines(builder.build(), ["b"]).pipelines]
        ['b']
    """
    if names is None:
        return flow
    wanted = [names] if isinstance(names, str) else list(names)
    known = [pipeline.name for pipeline in flow.pipelines]
    if not wanted:
        raise ConfigError(
            f"pipelines: select at least one pipeline (of {', '.join(map(repr, known))}), "
            "or give None to run them all"
        )
    return select_part(flow, wanted, None, option="pipelines")  # checks the names
