"""Running part of a flow: ``weirflow run service.py --pipelines a,b [--broker URL]``.

The whole file is still built and checked; :func:`select_part` keeps the named pipelines.
A stream is *cut* when its writers and readers are not all in the part: without a broker that
is a :class:`~weirflow.ConfigError` naming the stream, both sides and ``--broker``. With a
broker, every stream goes through it (also those whose both sides run here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import ConfigError
from .._hints import did_you_mean, shown

if TYPE_CHECKING:
    from ._flow import Flow


def parse_pipelines(text: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]`` (blanks around names dropped).

    Example:
        >>> parse_pipelines("produce, work")
        ['produce', 'work']
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError("--pipelines needs at least one pipeline name (--pipelines a,b)")
    return names


def select_part(
    flow: Flow, pipelines: Sequence[str] | None, broker: str | None, option: str = "--pipelines"
) -> Flow:
    """The part of ``flow`` made of ``pipelines`` (all when ``None``), with ``broker`` if given.

    ``option`` names where the names came from in errors (``run_flow(pipelines=...)`` says
    ``pipelines``).

    Raises:
        ConfigError: an unknown pipeline (with a "did you mean"), or a cut stream without a
            broker.
    """
    distribution = flow.distribution if broker is None else flow.distribution.with_broker(broker)
    known = [pipeline.name for pipeline in flow.pipelines]
    chosen = list(known) if pipelines is None else list(dict.fromkeys(pipelines))
    for name in chosen:
        if name not in known:
            raise ConfigError(
                f"{option}: the flow has no pipeline {shown(name)}{did_you_mean(name, known)}; "
                f"its pipelines: {', '.join(known)}"
            )
    if distribution.broker is None:
        _refuse_cut_streams(flow, chosen)
    kept = tuple(pipeline for pipeline in flow.pipelines if pipeline.name in chosen)
    return flow.with_part(kept, distribution)


def _refuse_cut_streams(flow: Flow, chosen: Sequence[str]) -> None:
    topology = flow.topology
    for stream in topology.streams:
        writers, readers = topology.writers[stream], topology.readers.get(stream, ())
        sides = {*writers, *readers}
        here = sides.intersection(chosen)
        if here and here != sides:
            missing = sorted(sides - here)
            raise ConfigError(
                f"stream {stream!r} is cut: written by {', '.join(map(repr, writers))} and "
                f"read by {', '.join(map(repr, readers))}, but {', '.join(map(repr, missing))} "
                f"{'does' if len(missing) == 1 else 'do'} not run here; give a broker to join "
                "the parts (--broker redis://host:6379/0, the WEIRFLOW_BROKER variable or "
                "FlowBuilder(broker=...)), or run both sides together"
            )
