"""Stages whose workers are Ray actors: heavy work on every core of a machine or a cluster.

The operators are those of every kind (``map``, ``filter``, ``flat_map``, ``each``, ``ordered``,
``concat``, ``from_iterable``, ``to_iterable``, ``run``, ``Partial`` and ``|``), with pypeln's
signatures, plus where each worker goes: ``num_cpus=`` (default 1), ``num_gpus=``,
``resources=`` and ``runtime_env=`` (Ray's own meanings). Each worker is one actor; ``on_start``
and ``on_done`` run inside it, once per actor. Elements travel in batches sized to the work, at
most ``maxsize`` of them in flight beyond what the actors are working on. What an actor raises
comes back as the original exception (its remote traceback as ``__cause__``); an actor that
dies is a :class:`~weirflow.WorkerDied`. Stopping, for whatever reason, kills the actors.

The cluster: the one ``ray.init(...)`` connected to, else ``RAY_ADDRESS``, else a local Ray
started on first use (no dashboard, no usage statistics, shut down at exit;
``WEIRFLOW_RAY_LOG_TO_DRIVER=1`` forwards the actors' output). Install with
``pip install 'weirflow[ray]'``; Ray is imported only when a ray stage runs.

Example:
    >>> import weirflow as wf
    >>> sorted(wf.ray.map(lambda x: x * x, range(6), workers=2, num_cpus=0.5))
    [0, 1, 4, 9, 16, 25]

    The local Ray started on first use stays up for the next stages, until the program exits
    or :func:`shutdown` is called.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from ._api import UNDEFINED, Operators
from ._runtime._batch import Element
from ._runtime._inject import StageStatus, WorkerInfo
from ._runtime.executors import _ray_cluster
from ._runtime.executors._ray_options import check_ray_options
from ._stage import Partial, Stage

_operators = Operators("ray")

ordered = _operators.ordered
concat = _operators.concat
from_iterable = _operators.from_iterable
to_iterable = _operators.to_iterable
run = _operators.run

Hook = Callable[..., Any] | None


def _placed(
    op: str,
    f: Any,
    num_cpus: float,
    num_gpus: float,
    resources: dict[str, float] | None,
    runtime_env: dict[str, Any] | None,
) -> Operators:
    """The operators of ray stages whose actors are placed as asked (options checked now)."""
    if importlib.util.find_spec("ray") is None:
        raise ImportError(_ray_cluster.EXTRA_HINT)
    name = getattr(f, "__name__", None) or type(f).__name__
    options = check_ray_options(
        {
            "num_cpus": num_cpus,
            "num_gpus": num_gpus or None,
            "resources": resources,
            "runtime_env": runtime_env,
        },
        f"stage 'ray.{op}({name})'",
    )
    return Operators("ray", extra={"ray_options": options})


def map(
    f: Callable[..., Any],
    stage: Any = UNDEFINED,
    workers: int = 1,
    maxsize: int = 0,
    timeout: float = 0,
    on_start: Hook = None,
    on_done: Hook = None,
    *,
    num_cpus: float = 1,
    num_gpus: float = 0,
    resources: dict[str, float] | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> Any:
    """Apply ``f`` to every element on Ray actors; the arguments of ``weirflow.thread.map``.

    Commonly used for CPU-heavy work (images, parsing, models) spread over a machine's cores or
    a cluster. ``num_cpus``, ``num_gpus``, ``resources`` and ``runtime_env`` place each actor.

    Example:
        >>> import weirflow as wf
        >>> sorted(wf.ray.map(lambda x: x + 1, range(4), workers=2, num_cpus=0.5))
        [1, 2, 3, 4]
    """
    placed = _placed("map", f, num_cpus, num_gpus, resources, runtime_env)
    return placed.map(f, stage, workers, maxsize, timeout, on_start, on_done)


def filter(
    f: Callable[..., Any],
    stage: Any = UNDEFINED,
    workers: int = 1,
    maxsize: int = 0,
    timeout: float = 0,
    on_start: Hook = None,
    on_done: Hook = None,
    *,
    num_cpus: float = 1,
    num_gpus: float = 0,
    resources: dict[str, float] | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> Any:
    """Keep the elements for which ``f`` is true, on Ray actors; arguments as :func:`map`.

    Example:
        >>> import weirflow as wf
        >>> sorted(wf.ray.filter(lambda x: x % 2 == 0, range(6), num_cpus=0.5))
        [0, 2, 4]
    """
    placed = _placed("filter", f, num_cpus, num_gpus, resources, runtime_env)
    return placed.filter(f, stage, workers, maxsize, timeout, on_start, on_done)


def flat_map(
    f: Callable[..., Any],
    stage: Any = UNDEFINED,
    workers: int = 1,
    maxsize: int = 0,
    timeout: float = 0,
    on_start: Hook = None,
    on_done: Hook = None,
    *,
    num_cpus: float = 1,
    num_gpus: float = 0,
    resources: dict[str, float] | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> Any:
    """Replace every element by the elements ``f`` returns or yields, on Ray actors.

    Arguments as :func:`map`.

    Example:
        >>> import weirflow as wf
        >>> sorted(wf.ray.flat_map(lambda x: [x, x], [1, 2], num_cpus=0.5))
        [1, 1, 2, 2]
    """
    placed = _placed("flat_map", f, num_cpus, num_gpus, resources, runtime_env)
    return placed.flat_map(f, stage, workers, maxsize, timeout, on_start, on_done)


def each(
    f: Callable[..., Any],
    stage: Any = UNDEFINED,
    workers: int = 1,
    maxsize: int = 0,
    timeout: float = 0,
    on_start: Hook = None,
    on_done: Hook = None,
    run: bool = False,
    *,
    num_cpus: float = 1,
    num_gpus: float = 0,
    resources: dict[str, float] | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> Any:
    """Call ``f`` on every element on Ray actors for its side effects; the stage emits nothing.

    With ``run=True`` the stage runs to the end here and ``None`` is returned; arguments
    otherwise as :func:`map`.

    Example:
        >>> import weirflow as wf
        >>> list(wf.ray.each(print, [], num_cpus=0.5))
        []
    """
    placed = _placed("each", f, num_cpus, num_gpus, resources, runtime_env)
    return placed.each(f, stage, workers, maxsize, timeout, on_start, on_done, run)


def shutdown() -> None:
    """Shut down the local Ray that ray stages started; a cluster they joined is left running.

    Without it, a local Ray started by weirflow is shut down when the interpreter exits.
    """
    _ray_cluster.shutdown()


__all__ = [
    "Element",
    "Partial",
    "Stage",
    "StageStatus",
    "WorkerInfo",
    "concat",
    "each",
    "filter",
    "flat_map",
    "from_iterable",
    "map",
    "ordered",
    "run",
    "shutdown",
    "to_iterable",
]
