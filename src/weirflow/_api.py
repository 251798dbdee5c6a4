"""The functional API, written once and bound to each worker kind.

``weirflow.thread``, ``weirflow.task``, ``weirflow.sync`` (and ``weirflow.process``) each expose the
methods of one :class:`Operators` instance as module functions, with pypeln 0.4's signatures and
defaults. Every argument is checked here, when the stage is created, so mistakes surface at the
line that made them rather than inside a worker.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast, overload

from ._checks import check_positive_number, check_whole_number
from ._errors import InvalidCallableError
from ._runtime._inject import check_hook, check_stage_function
from ._runtime._ops import Filter, FlatMap, Map, Operation
from ._runtime._spec import Kind, StageSpec
from ._runtime._stats import StageCounters
from ._runtime._supervisor import Run, iterate_values
from ._runtime.executors import KINDS, executor_traits
from ._stage import Partial, Stage

A = TypeVar("A")
B = TypeVar("B")


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()

# Bounds of the arguments, checked when a stage is made. Each back end says how many workers a
# stage may have (``Traits.max_workers``): past that a stage spends its time starting workers,
# not running them.
MAX_MAXSIZE = 1_000_000_000  # elements; 0 = unbounded
MAX_TIMEOUT_SECONDS = 365 * 24 * 3600.0  # a year; 0 = no timeout

Source = Stage[A] | Iterable[A] | AsyncIterable[A]
Hook = Callable[..., Any] | None


class Operators:
    """The operators of one worker kind."""

    def __init__(self, kind: Kind, extra: Mapping[str, Any] | None = None) -> None:
        self.kind = kind
        self.traits = executor_traits(kind)
        self.extra = dict(extra or {})  # kept in each transform's spec (a back end's options)

    # -- transforms ---------------------------------------------------------------------------

    # An ``async def`` (task kind) gives a stage of what it returns, not of coroutines; these
    # overloads come first because ``Callable[..., B]`` would also match with B = a coroutine.
    @overload
    def map(
        self,
        f: Callable[..., Awaitable[B]],
        stage: Source[Any],
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Stage[B]: ...

    @overload
    def map(
        self,
        f: Callable[..., Awaitable[B]],
        *,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Partial[Stage[B]]: ...

    @overload
    def map(
        self,
        f: Callable[..., B],
        stage: Source[Any],
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Stage[B]: ...

    @overload
    def map(
        self,
        f: Callable[..., B],
        *,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Partial[Stage[B]]: ...

    def map(
        self,
        f: Callable[..., Any],
        stage: Any = UNDEFINED,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Stage[Any] | Partial[Stage[Any]]:
        """Apply ``f`` to every element, concurrently; like the built-in ``map``.

        Args:
            f: ``f(x, **injected) -> y``; it may also name ``element_index``, ``worker_info``
                or any key of the dict ``on_start`` returns. In ``task``, may be ``async``.
            stage: a stage or any iterable; omit it to get a ``Partial`` for ``|``.
            workers: how many workers run ``f`` at once: at most 4,096 threads, 100,000 tasks
                or 1,024 processes (``sync`` runs one, whatever this says).
            maxsize: how many elements the stage may hold ahead of its consumer, batches in
                its workers' hands included (0 = unbounded, at most 10**9); bounds memory.
            timeout: seconds an element may take (a finite number, 0 = none, at most a year);
                an element that takes longer is skipped.
            on_start: called once per worker; returns a dict of resources for ``f``.
            on_done: called once per worker when it stops, however it stops.

        Returns:
            A lazy ``Stage`` (or a ``Partial`` when ``stage`` is omitted). Order is not kept;
            pipe into ``ordered`` to restore it.

        Example:
            >>> import weirflow as wf
            >>> sorted(wf.thread.map(lambda x: x + 1, range(5), workers=3, maxsize=4))
            [1, 2, 3, 4, 5]
        """
        return self._transform(Map(f), "map", stage, workers, maxsize, timeout, on_start, on_done)

    @overload
    def filter(
        self,
        f: Callable[..., Any],
        stage: Source[A],
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Stage[A]: ...

    @overload
    def filter(
        self,
        f: Callable[..., Any],
        *,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Partial[Stage[Any]]: ...

    def filter(
        self,
        f: Callable[..., Any],
        stage: Any = UNDEFINED,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Stage[Any] | Partial[Stage[Any]]:
        """Keep the elements for which ``f`` returns a true value; like the built-in ``filter``.

        Arguments are those of :meth:`map`.

        Example:
            >>> import weirflow as wf
            >>> sorted(wf.thread.filter(lambda x: x % 2 == 0, range(6), workers=2))
            [0, 2, 4]
        """
        return self._transform(
            Filter(f), "filter", stage, workers, maxsize, timeout, on_start, on_done
        )

    @overload
    def flat_map(
        self,
        f: Callable[..., Awaitable[Iterable[B]]],
        stage: Source[Any],
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Stage[B]: ...

    @overload
    def flat_map(
        self,
        f: Callable[..., Awaitable[Iterable[B]]],
        *,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Partial[Stage[B]]: ...

    @overload
    def flat_map(
        self,
        f: Callable[..., Iterable[B] | AsyncIterable[B]],
        stage: Source[Any],
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Stage[B]: ...

    @overload
    def flat_map(
        self,
        f: Callable[..., Iterable[B] | AsyncIterable[B]],
        *,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Partial[Stage[B]]: ...

    def flat_map(
        self,
        f: Callable[..., Any],
        stage: Any = UNDEFINED,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
    ) -> Stage[Any] | Partial[Stage[Any]]:
        """Replace every element by the elements of the iterable ``f`` returns (or yields).

        ``f`` may be a generator function (an async generator function in ``task``); its items
        are streamed downstream as they are produced. Arguments are those of :meth:`map`.

        Example:
            >>> import weirflow as wf
            >>> def twice(x):
            ...     yield x
            ...     yield x
            >>> list(wf.sync.flat_map(twice, [1, 2]))
            [1, 1, 2, 2]
        """
        return self._transform(
            FlatMap(f), "flat_map", stage, workers, maxsize, timeout, on_start, on_done
        )

    @overload
    def each(
        self,
        f: Callable[..., Any],
        stage: Source[Any],
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
        run: bool = False,
    ) -> Stage[None] | None: ...

    @overload
    def each(
        self,
        f: Callable[..., Any],
        *,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
        run: bool = False,
    ) -> Partial[Stage[None] | None]: ...

    def each(
        self,
        f: Callable[..., Any],
        stage: Any = UNDEFINED,
        workers: int = 1,
        maxsize: int = 0,
        timeout: float = 0,
        on_start: Hook = None,
        on_done: Hook = None,
        run: bool = False,
    ) -> Stage[None] | Partial[Stage[None] | None] | None:
        """Call ``f`` on every element for its side effects; the stage emits nothing.

        With ``run=True`` the stage is run to the end here and ``None`` is returned.
        Arguments are otherwise those of :meth:`map`.

        Example:
            >>> import weirflow as wf
            >>> seen = []
            >>> wf.thread.each(seen.append, [1, 2, 3], run=True)
            >>> sorted(seen)
            [1, 2, 3]
        """
        operation = Filter(f, name="each", emits=False)
        if stage is UNDEFINED:
            return Partial(
                lambda s: self.each(f, s, workers, maxsize, timeout, on_start, on_done, run)
            )
        result = self._transform(
            operation, "each", stage, workers, maxsize, timeout, on_start, on_done
        )
        assert isinstance(result, Stage)
        if not run:
            return result
        self.run(result)
        return None

    # -- structure ----------------------------------------------------------------------------

    @overload
    def ordered(self, stage: Source[A], maxsize: int = 0) -> Stage[A]: ...

    @overload
    def ordered(self, *, maxsize: int = 0) -> Partial[Stage[Any]]: ...

    def ordered(self, stage: Any = UNDEFINED, maxsize: int = 0) -> Stage[Any] | Partial[Stage[Any]]:
        """Restore source order, releasing each element as soon as all earlier ones have left.

        Example:
            >>> import weirflow as wf
            >>> list(wf.thread.map(lambda x: x * 10, range(5), workers=4) | wf.thread.ordered)
            [0, 10, 20, 30, 40]
        """
        if stage is UNDEFINED:
            return Partial(lambda s: self.ordered(s, maxsize))
        _check_maxsize(maxsize, f"{self.kind}.ordered")
        upstream = self._to_spec(stage, maxsize, f"{self.kind}.ordered")
        return Stage(
            StageSpec(f"{self.kind}.ordered", self.kind, "ordered", (upstream,), maxsize=maxsize)
        )

    def concat(self, stages: list[Any], maxsize: int = 0) -> Stage[Any]:
        """Merge several stages or iterables into one, elements in the order they arrive.

        Example:
            >>> import weirflow as wf
            >>> sorted(wf.thread.concat([[1, 2], wf.thread.map(abs, [-3])]))
            [1, 2, 3]
        """
        name = f"{self.kind}.concat"
        _check_maxsize(maxsize, name)
        if isinstance(stages, (str, bytes)) or not isinstance(stages, Iterable):
            raise InvalidCallableError(f"stage {name!r}: stages must be a list of stages")
        upstreams = tuple(self._to_spec(stage, maxsize, name) for stage in stages)
        return Stage(StageSpec(name, self.kind, "concat", upstreams, maxsize=maxsize))

    @overload
    def from_iterable(
        self, iterable: Iterable[A] | AsyncIterable[A], use_thread: bool = True, maxsize: int = 0
    ) -> Stage[A]: ...

    @overload
    def from_iterable(
        self, *, use_thread: bool = True, maxsize: int = 0
    ) -> Partial[Stage[Any]]: ...

    def from_iterable(
        self, iterable: Any = UNDEFINED, use_thread: bool = True, maxsize: int = 0
    ) -> Stage[Any] | Partial[Stage[Any]]:
        """A stage whose elements are those of ``iterable``.

        In ``thread``, ``task`` and ``process`` the iterable is consumed by a thread of its own
        (``use_thread``; an async iterable, or ``use_thread=False`` in ``task``, is consumed on
        the event loop), so a slow or blocking source overlaps with the work downstream.

        Example:
            >>> import weirflow as wf
            >>> list(wf.thread.from_iterable(range(3)))
            [0, 1, 2]
        """
        if iterable is UNDEFINED:
            return Partial(lambda it: self.from_iterable(it, use_thread, maxsize))
        return Stage(self._source(iterable, maxsize, use_thread))

    @overload
    def to_iterable(
        self, stage: Source[A], maxsize: int = 0, return_index: bool = False
    ) -> Iterable[A]: ...

    @overload
    def to_iterable(
        self, *, maxsize: int = 0, return_index: bool = False
    ) -> Partial[Iterable[Any]]: ...

    def to_iterable(
        self, stage: Any = UNDEFINED, maxsize: int = 0, return_index: bool = False
    ) -> Iterable[Any] | Partial[Iterable[Any]]:
        """An iterable over the stage's elements (``Element(index, value)`` with ``return_index``).

        Example:
            >>> import weirflow as wf
            >>> list(wf.thread.to_iterable(wf.thread.map(str, [1])))
            ['1']
        """
        if stage is UNDEFINED:
            return Partial(lambda s: self.to_iterable(s, maxsize, return_index))
        name = f"{self.kind}.to_iterable"
        _check_maxsize(maxsize, name)
        spec = self._to_spec(stage, maxsize, name)
        return iterate_values(Run(spec), maxsize, with_index=return_index)

    def run(self, *stages: Any, maxsize: int = 0) -> None:
        """Run one or more stages to the end, discarding their output (several are concatenated).

        Example:
            >>> import weirflow as wf
            >>> out = []
            >>> wf.thread.run(wf.thread.each(out.append, [1, 2]))
            >>> sorted(out)
            [1, 2]
        """
        if not stages:
            return
        stage = stages[0] if len(stages) == 1 else self.concat(list(stages), maxsize=maxsize)
        for _ in self.to_iterable(stage, maxsize=maxsize):
            pass

    # -- building -----------------------------------------------------------------------------

    def _transform(
        self,
        operation: Operation,
        op_name: str,
        stage: Any,
        workers: int,
        maxsize: int,
        timeout: float,
        on_start: Hook,
        on_done: Hook,
        name: str | None = None,
    ) -> Stage[Any] | Partial[Stage[Any]]:
        f = operation.f
        name = name or f"{self.kind}.{op_name}({_function_name(f)})"
        signature = check_stage_function(f, name)
        if operation.is_async and not self.traits.awaits:
            awaiting = _awaiting_kinds()
            raise InvalidCallableError(
                f"stage {name!r}: {_function_name(f)} is an async function, which only the "
                f"{' or '.join(map(repr, awaiting))} kind can run; use "
                f"weirflow.{awaiting[0]}.{op_name} or a plain function"
            )
        _check_workers(workers, name, self.kind)
        _check_maxsize(maxsize, name)
        _check_timeout(timeout, name)
        on_start_signature = check_hook(on_start, "on_start", name, allowed={"worker_info"})
        on_done_signature = check_hook(on_done, "on_done", name, allowed=None)
        if not self.traits.awaits:
            for hook, label in ((on_start, "on_start"), (on_done, "on_done")):
                if hook is not None and inspect.iscoroutinefunction(hook):
                    raise InvalidCallableError(
                        f"stage {name!r}: {label} is async; only "
                        f"{' or '.join(map(repr, _awaiting_kinds()))} stages can await it"
                    )
        if stage is UNDEFINED:
            return Partial(
                lambda s: cast(
                    Stage[Any],
                    self._transform(
                        operation, op_name, s, workers, maxsize, timeout, on_start, on_done
                    ),
                )
            )
        upstream = self._to_spec(stage, maxsize, name)
        return Stage(
            StageSpec(
                name,
                self.kind,
                "transform",
                (upstream,),
                operation=operation,
                workers=1 if self.traits.pulled else workers,
                maxsize=maxsize,
                timeout=timeout,
                on_start=on_start,
                on_done=on_done,
                signature=signature,
                on_start_signature=on_start_signature,
                on_done_signature=on_done_signature,
                extra=dict(self.extra),
            )
        )

    def named(
        self,
        operation: Operation,
        stage: Any,
        name: str,
        workers: int = 1,
        maxsize: int = 0,
        on_start: Hook = None,
        on_done: Hook = None,
        pipeline: str | None = None,
        statistics: StageCounters | None = None,
    ) -> Stage[Any]:
        """A transform stage with a name of the caller's choosing (used by pipelines, which
        give their name as ``pipeline``: the stage's log records carry it).

        ``statistics``: counters its workers write once per batch (a flow's statistics).
        """
        op_name = operation.name
        result = self._transform(
            operation, op_name, stage, workers, maxsize, 0, on_start, on_done, name=name
        )
        assert isinstance(result, Stage)
        if pipeline is None and statistics is None:
            return result
        extra = dict(result.spec.extra)
        if statistics is not None:
            extra["statistics"] = statistics
        return Stage(replace(result.spec, pipeline=pipeline, extra=extra))

    def _to_spec(self, stage: Any, maxsize: int, consumer: str) -> StageSpec:
        if isinstance(stage, Stage):
            return stage.spec
        if isinstance(stage, Partial):
            raise InvalidCallableError(
                f"stage {consumer!r}: got a Partial (an operator without its input) where a "
                "stage or iterable was expected; give it its input first"
            )
        return self._source(stage, maxsize, use_thread=True, consumer=consumer)

    def _source(
        self, iterable: Any, maxsize: int, use_thread: bool, consumer: str | None = None
    ) -> StageSpec:
        name = f"{self.kind}.from_iterable"
        _check_maxsize(maxsize, name)
        is_async = isinstance(iterable, AsyncIterable)
        if not (isinstance(iterable, Iterable) or is_async):
            where = consumer or name
            raise InvalidCallableError(
                f"stage {where!r}: expected a stage or an iterable, got "
                f"{type(iterable).__name__} {iterable!r}"
            )
        if is_async and not self.traits.awaits:
            raise InvalidCallableError(
                f"stage {consumer or name!r}: an async iterable can only feed "
                f"{' or '.join(map(repr, _awaiting_kinds()))} stages"
            )
        return StageSpec(
            name, self.kind, "source", iterable=iterable, use_thread=use_thread, maxsize=maxsize
        )


def _function_name(f: Any) -> str:
    return str(getattr(f, "__name__", None) or type(f).__name__)


def _check_workers(workers: Any, stage: str, kind: Kind) -> None:
    check_whole_number(
        workers,
        "workers",
        where=f"stage {stage!r}",
        minimum=1,
        maximum=executor_traits(kind).max_workers,
    )


def _check_maxsize(maxsize: Any, stage: str) -> None:
    check_whole_number(
        maxsize, "maxsize", where=f"stage {stage!r}", maximum=MAX_MAXSIZE, meaning="0 = unbounded"
    )


def _check_timeout(timeout: Any, stage: str) -> None:
    check_positive_number(
        timeout,
        "timeout",
        where=f"stage {stage!r}",
        allow_zero=True,
        maximum=MAX_TIMEOUT_SECONDS,
        meaning="seconds, 0 = none",
    )


def _awaiting_kinds() -> list[str]:
    """The kinds whose workers can ``await`` (for error messages)."""
    return [kind for kind in KINDS if executor_traits(kind).awaits]
