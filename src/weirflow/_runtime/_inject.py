"""Dependency injection by parameter name, the way pypeln does it.

A stage function ``f(x, **resources)`` gets the extra arguments it *names*: whatever the worker's
``on_start`` returned (a dict), ``element_index`` (the element's position in the source) and
``worker_info``. ``on_start`` may name ``worker_info``; ``on_done`` may name the ``on_start``
resources, ``worker_info`` and ``stage_status``. Mistakes are found as early as possible: the
signatures are checked when the stage is created, the resource names when a worker starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .._errors import InvalidCallableError


class WorkerInfo(NamedTuple):
    """What a worker knows about itself; ``on_start`` and ``f`` can ask for it by name.

    Attributes:
        index: the worker's number within its stage, from 0.
    """

    index: int  # type: ignore[assignment]  # pypeln's field name


class StageStatus:
    """Passed to ``on_done`` (as ``stage_status``): how far the stage got.

    Attributes:
        done: True once every worker of the stage has finished.
        active_workers: the number of workers still running.
    """

    def __init__(self, counter: Callable[[], int]) -> None:
        self._counter = counter

    @property
    def active_workers(self) -> int:
        return self._counter()

    @property
    def done(self) -> bool:
        return self._counter() == 0

    def __repr__(self) -> str:
        return f"StageStatus(done={self.done}, active_workers={self.active_workers})"


@dataclass(frozen=True)
class Signature:
    """The parameters of a user function that matter for injection."""

    names: frozenset[str]
    required: tuple[str, ...]
    takes_var_keyword: bool
    positional_slots: int

    def accepts(self, name: str) -> bool:
        return self.takes_var_keyword or name in self.names

    def select(self, available: Mapping[str, Any]) -> dict[str, Any]:
        """The subset of ``available`` this function takes."""
        if self.takes_var_keyword:
            return dict(available)
        return {key: value for key, value in available.items() if key in self.names}


def signature_of(fn: Callable[..., Any], skip_first: bool) -> Signature:
    """Read ``fn``'s parameters; ``skip_first`` drops the element parameter of a stage function."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: pass no keywords
        return Signature(frozenset(), (), False, 1)
    positional_slots = sum(
        1
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    )
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if skip_first and parameters and parameters[0].kind not in variadic:
        parameters = parameters[1:]
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = frozenset(p.name for p in parameters if p.kind in keyword_kinds)
    required = tuple(p.name for p in parameters if p.kind in keyword_kinds and p.default is p.empty)
    takes_var_keyword = any(p.kind == p.VAR_KEYWORD for p in parameters)
    return Signature(names, required, takes_var_keyword, positional_slots)


def check_stage_function(fn: Callable[..., Any], stage: str) -> Signature:
    """Check at stage creation that ``fn`` can take one element; return its signature."""
    if not callable(fn):
        raise InvalidCallableError(
            f"stage {stage!r}: the function must be callable, got {type(fn).__name__} {fn!r}"
        )
    signature = signature_of(fn, skip_first=True)
    if signature.positional_slots == 0 and not signature.takes_var_keyword:
        raise InvalidCallableError(
            f"stage {stage!r}: {_name(fn)} takes no positional parameter for the element; "
            "give it one, e.g. def f(x): ..."
        )
    return signature


def check_hook(
    fn: Callable[..., Any] | None, hook: str, stage: str, allowed: Collection[str] | None
) -> Signature | None:
    """Check ``on_start``/``on_done`` at stage creation.

    ``allowed`` lists the names the hook may require; ``None`` means "not known yet"
    (``on_done`` may also name any resource ``on_start`` returns).
    """
    if fn is None:
        return None
    if not callable(fn):
        raise InvalidCallableError(f"stage {stage!r}: {hook} must be callable, got {fn!r}")
    signature = signature_of(fn, skip_first=False)
    if allowed is not None:
        unknown = [name for name in signature.required if name not in allowed]
        if unknown:
            raise InvalidCallableError(
                f"stage {stage!r}: {hook} {_name(fn)} requires {', '.join(unknown)}, "
                f"but {hook} can only be given {', '.join(sorted(allowed))}; "
                "give the other parameters a default value"
            )
    return signature


def check_resources(
    signature: Signature,
    available: Collection[str],
    who: str,
    stage: str,
) -> None:
    """At worker start: every required parameter of ``who`` must be among ``available``."""
    missing = [name for name in signature.required if name not in available]
    if missing:
        raise InvalidCallableError(
            f"stage {stage!r}: {who} requires {', '.join(missing)}, but only "
            f"{', '.join(sorted(available)) or 'nothing'} is available; return "
            f"{', '.join(repr(m) for m in missing)} from on_start as a dict key"
        )


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
