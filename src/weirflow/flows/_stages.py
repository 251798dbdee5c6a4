"""The stages of a pipeline, and how each becomes a stage of the engine.

A :class:`StageDef` is data: its role (configuration, source, core logic, storage, sender), the
worker kind, workers and ``maxsize``, and the user function or a :class:`~weirflow.flows._lazy.Lazy`
connector, storage or sender. :func:`engine_stage` turns it into an engine stage for one run,
with a wrapper (:class:`StageCall`) that calls the user's function the way wiredflow users expect:
the previous stage's output as the first argument (when the function takes one), and by name
``db_connectors`` (pipeline name → that pipeline's storage), ``pipeline_name`` and the worker's
``on_start`` resources; a ``def f(**kwargs)`` gets all of them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import CoroutineType
from typing import Any, Literal

from .._await import collect, run_awaitable
from .._errors import ConfigError, tag_stage
from .._interfaces import Sender, Source, Storage
from .._retry import NO_RETRY, Retry
from .._runtime._channel import Cancelled
from .._runtime._ops import FlatMap, Map, MapBatch, Operation
from .._runtime._spec import Kind
from .._runtime._stats import DROPPED, ERRORS, StageCounters
from .._runtime.executors import executor_traits
from .._stage import Stage
from ._dead_letters import ItemFailure
from ._lazy import Lazy
from ._streams import StreamClosed
from ._tickets import CARRIER, Tracked, spread

logger = logging.getLogger("weirflow")

Role = Literal["configuration", "source", "core_logic", "storage", "sender"]
INJECTED = frozenset({"db_connectors", "pipeline_name"})


@dataclass(frozen=True)
class StageDef:
    """One stage of a pipeline."""

    label: str
    role: Role
    kind: Kind = "thread"
    workers: int = 1
    maxsize: int = 0
    function: Callable[..., Any] | None = None
    source: Lazy[Source] | None = None
    storage: Lazy[Storage] | None = None
    sender: Lazy[Sender] | None = None
    on_start: Callable[..., Any] | None = None
    on_done: Callable[..., Any] | None = None
    continuous: bool = False
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    retry: Retry = NO_RETRY
    ray_options: dict[str, Any] = field(default_factory=dict)  # kind="ray": where actors go


@dataclass(frozen=True)
class CallConvention:
    """How to call a user function: with the item or not, and which names it takes."""

    takes_item: bool
    names: frozenset[str]
    takes_all: bool

    @property
    def plain(self) -> bool:
        """Whether the function takes nothing by name (it is called with the item alone)."""
        return not self.names and not self.takes_all

    def call(self, fn: Callable[..., Any], item: Any, available: Mapping[str, Any]) -> Any:
        kwargs = (
            dict(available)
            if self.takes_all
            else {k: v for k, v in available.items() if k in self.names}
        )
        if self.takes_item:
            return fn(item, **kwargs)
        return fn(**kwargs)


def call_convention(fn: Callable[..., Any], where: str, resources_possible: bool) -> CallConvention:
    """Read ``fn``'s signature at build time; a parameter nobody can fill is a ``ConfigError``."""
    if not callable(fn):
        raise ConfigError(f"{where}: expected a function, got {type(fn).__name__} {fn!r}")
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return CallConvention(True, frozenset(), False)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    takes_item = bool(parameters) and (
        parameters[0].kind == inspect.Parameter.VAR_POSITIONAL
        or (parameters[0].kind in positional and parameters[0].name not in INJECTED)
    )
    rest = parameters[1:] if takes_item else parameters
    names = frozenset(
        p.name
        for p in rest
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
    takes_all = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters)
    unknown = [
        p.name
        for p in rest
        if p.default is p.empty
        and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        and p.name not in INJECTED
    ]
    if unknown and not resources_possible:
        raise ConfigError(
            f"{where}: {getattr(fn, '__name__', fn)!s} requires {', '.join(unknown)}, which "
            f"nothing provides; a stage function can take the previous stage's output as its "
            f"first parameter and, by name, {', '.join(sorted(INJECTED))} or resources returned "
            f"by on_start"
        )
    return CallConvention(takes_item, names, takes_all)


class StorageDirectory(Mapping[str, Storage]):
    """``db_connectors``: pipeline name → that pipeline's storage, opened on first use."""

    def __init__(self, storages: Mapping[str, Lazy[Storage]]) -> None:
        self._storages = dict(storages)

    def __getitem__(self, name: str) -> Storage:
        try:
            return self._storages[name].get()
        except KeyError:
            raise KeyError(
                f"no pipeline named {name!r} has a storage; pipelines with storages: "
                f"{', '.join(sorted(self._storages)) or 'none'}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._storages)

    def __len__(self) -> int:
        return len(self._storages)


_NOT_ITEM_FAILURES: tuple[type[BaseException], ...] = (Cancelled, StreamClosed)


@dataclass
class StageCall:
    """What the engine runs for one pipeline stage (picklable: no open resources).

    It calls the user's function (awaiting it when it is ``async``), tries an item again as
    the stage's :class:`~weirflow.Retry` says, and, with ``item_level`` (``on_failure=
    "continue"``), turns an item that still fails into an :class:`ItemFailure` that goes on
    to the pipeline's end instead of ending the run. Failures from earlier stages pass through.
    """

    stage: StageDef
    stage_name: str
    pipeline: str
    directory: StorageDirectory
    convention: CallConvention | None
    item_level: bool = False
    counters: StageCounters | None = None  # the flow's statistics of this stage

    def __post_init__(self) -> None:
        # Worked out once, not per item: whether the stage's workers await, and whether its
        # function takes resources by name.
        self._awaits = executor_traits(self.stage.kind).awaits
        self._plain = self.convention is not None and self.convention.plain
        # core logic called with the item alone, in a thread: a tracked item whose result is
        # one plain item (or None) goes through _tracked_call, the rest the general way
        self._direct = (
            self.stage.role == "core_logic"
            and self._plain
            and self.convention is not None
            and self.convention.takes_item
            and not self._awaits
        )

    def __call__(self, item: Any, **resources: Any) -> Any:
        if self._direct and type(item) is Tracked:
            return self._tracked_call(item, resources)
        value, ticket = (item.value, item) if type(item) is Tracked else (item, None)
        if type(value) is ItemFailure or value is CARRIER:
            return (item,) if self._flat else item
        if self._awaits:
            return self._call_async(item, value, ticket, resources)
        try:
            result = self._apply(value, resources)
            if type(result) is CoroutineType:  # an async function's, from _apply
                result = run_awaitable(result)
        except _NOT_ITEM_FAILURES:
            raise
        except Exception as error:
            return self._again(item, value, ticket, resources, error)
        except BaseException as error:
            tag_stage(error, self.stage_name)
            raise
        return self._outputs(result, item, value, ticket, 1, resources)

    def _tracked_call(self, item: Tracked, resources: dict[str, Any]) -> Any:
        """:meth:`__call__` of a tracked item, with the common case (one plain result, or
        ``None``) done here: once per item of every stream and at-least-once pipeline."""
        value = item.value
        if type(value) is ItemFailure or value is CARRIER:
            return (item,)
        function = self.stage.function
        assert function is not None
        try:
            result = function(value)
            single = type(result) in _SINGLE_ITEMS
            if not single:  # a generator, an iterator, something awaitable: as _apply does
                result = self._after(result, "core_logic")
                if type(result) is CoroutineType:
                    result = run_awaitable(result)
        except _NOT_ITEM_FAILURES:
            raise
        except Exception as error:
            return self._again(item, value, item, resources, error)
        except BaseException as error:
            tag_stage(error, self.stage_name)
            raise
        if not single:
            return self._outputs(result, item, value, item, 1, resources)
        ticket, weight = item.ticket, item.weight
        if result is not None:
            return (Tracked(result, ticket, weight),)
        self._count(resources, DROPPED)
        if ticket.local:
            ticket.settle(weight)
            return ()
        return (Tracked(CARRIER, ticket, weight),)  # the weight goes back in its process

    def _count(self, resources: Mapping[str, Any], slot: int) -> None:
        counters = self.counters
        if counters is not None:
            info = resources.get("worker_info")
            counters.add(info.index if info is not None else 0, slot)

    def _again(
        self,
        item: Any,
        value: Any,
        ticket: Tracked | None,
        resources: dict[str, Any],
        error: Exception,
    ) -> Any:
        """The first attempt failed: the retries, then the failure."""
        attempt = 1
        while attempt < self.stage.retry.attempts:
            if not retry_wait(self.pipeline, self._retrying(error, attempt)):
                break  # the run is ending: no more attempts
            attempt += 1
            try:
                result = run_awaitable(self._apply(value, resources))
            except _NOT_ITEM_FAILURES:
                raise
            except Exception as again:
                error = again
                continue
            except BaseException as fatal:
                tag_stage(fatal, self.stage_name)
                raise
            return self._outputs(result, item, value, ticket, attempt, resources)
        return self._failed(item, value, ticket, error, attempt, resources)

    async def _call_async(
        self, item: Any, value: Any, ticket: Tracked | None, resources: dict[str, Any]
    ) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self._apply(value, resources)
                if inspect.isawaitable(result):
                    result = await result
                break
            except _NOT_ITEM_FAILURES:
                raise
            except Exception as error:
                if attempt < self.stage.retry.attempts:
                    await asyncio.sleep(self._retrying(error, attempt))
                    continue
                return self._failed(item, value, ticket, error, attempt, resources)
            except BaseException as error:
                tag_stage(error, self.stage_name)
                raise
        return self._outputs(result, item, value, ticket, attempt, resources)

    @property
    def _flat(self) -> bool:
        return self.stage.role in ("source", "core_logic")

    def _retrying(self, error: BaseException, attempt: int) -> float:
        delay = self.stage.retry.delay(attempt)
        logger.info(
            "stage %r: attempt %d of %d failed (%s: %s); trying again in %.2fs",
            self.stage_name,
            attempt,
            self.stage.retry.attempts,
            type(error).__name__,
            error,
            delay,
            extra={"pipeline": self.pipeline, "stage": self.stage_name},
        )
        return delay

    def _failed(
        self,
        item: Any,
        value: Any,
        ticket: Tracked | None,
        error: Exception,
        attempts: int,
        resources: Mapping[str, Any],
    ) -> Any:
        tag_stage(error, self.stage_name)
        self._count(resources, ERRORS)
        if not self.item_level or self.stage.role in ("configuration", "source"):
            raise error
        failure = ItemFailure.of(self.pipeline, self.stage_name, value, error, attempts)
        out: Any = failure if ticket is None else Tracked(failure, ticket.ticket, ticket.weight)
        return (out,) if self._flat else out

    def _outputs(
        self,
        result: Any,
        item: Any,
        value: Any,
        ticket: Tracked | None,
        attempts: int,
        resources: Mapping[str, Any],
    ) -> Any:
        if self.stage.role == "configuration":
            return result
        if self.stage.role == "sender":
            return item  # sent: the same item goes on
        if self.stage.role == "core_logic":
            if type(result) is tuple:
                if not result:  # None: dropped
                    self._count(resources, DROPPED)
            else:
                result = self._guarded(result, value, attempts, resources)
        if ticket is None:
            return result
        return spread(result, ticket)

    def _guarded(
        self, outputs: Iterable[Any], value: Any, attempts: int, resources: Mapping[str, Any]
    ) -> Iterable[Any]:
        """A generator's items; one that raises mid-way ends with an :class:`ItemFailure`."""
        if type(outputs) is tuple or not isinstance(outputs, Iterator):
            return outputs
        return self._guard(outputs, value, attempts, resources)

    def _guard(
        self, outputs: Iterator[Any], value: Any, attempts: int, resources: Mapping[str, Any]
    ) -> Iterator[Any]:
        try:
            yield from outputs
        except _NOT_ITEM_FAILURES:
            raise
        except Exception as error:
            tag_stage(error, self.stage_name)
            self._count(resources, ERRORS)
            if not self.item_level:
                raise
            yield ItemFailure.of(self.pipeline, self.stage_name, value, error, attempts)
        except BaseException as error:
            tag_stage(error, self.stage_name)
            raise

    def _apply(self, item: Any, resources: dict[str, Any]) -> Any:
        stage = self.stage
        if stage.role == "source":
            assert stage.source is not None
            parameters = item if isinstance(item, Mapping) else {}
            return stage.source.get().read(parameters)
        if stage.role == "sender":
            assert stage.sender is not None
            stage.sender.get().send(item)
            return item
        assert stage.function is not None
        assert self.convention is not None
        if self._plain:
            result = stage.function(item) if self.convention.takes_item else stage.function()
        else:
            available = {
                **resources,
                "db_connectors": self.directory,
                "pipeline_name": self.pipeline,
            }
            result = self.convention.call(stage.function, item, available)
        return self._after(result, stage.role)

    def _after(self, result: Any, role: Role) -> Any:
        """A user function's result as the stage's outputs (a coroutine if it must be awaited)."""
        if _awaitable(result):
            return self._then(result, role)
        return self._checked(result, role)

    async def _then(self, result: Any, role: Role) -> Any:
        if isinstance(result, AsyncIterable) and not inspect.isawaitable(result):
            return iter(await collect(result))  # an async generator's items, each an item
        return self._checked(await result, role)

    def _checked(self, result: Any, role: Role) -> Any:
        if role == "configuration":
            if result is not None and not isinstance(result, Mapping):
                raise TypeError(
                    f"stage {self.stage_name!r}: a configuration function must return a dict "
                    f"of parameters for the next stage (or None), got {type(result).__name__}"
                )
            return result or {}
        return _as_items(result)


def _awaitable(result: Any) -> bool:
    """Whether a user function's result must be awaited (a coroutine, an async generator)."""
    kind = type(result)
    if kind in _NEVER_AWAITED:  # the usual results, without two failed attribute lookups
        return False
    return hasattr(kind, "__await__") or hasattr(kind, "__aiter__")


_NEVER_AWAITED = frozenset({type(None), dict, list, tuple, str, bytes, int, float, bool})
_SINGLE_ITEMS = _NEVER_AWAITED  # a core logic result of these types is one item (None: none)


_ending: dict[str, threading.Event] = {}  # pipeline -> set when its run in this process ends


def run_starts(pipeline: str) -> threading.Event:
    """A run of ``pipeline`` starts in this process; setting the event ends its retry waits."""
    event = _ending[pipeline] = threading.Event()
    return event


def stop_retrying(pipeline: str) -> None:
    """The run of ``pipeline`` is being cancelled: waits before retries end now."""
    event = _ending.get(pipeline)
    if event is not None:
        event.set()


def retry_wait(pipeline: str, seconds: float) -> bool:
    """Wait before an attempt; False when the run ended meanwhile (do not try again)."""
    event = _ending.get(pipeline)
    if event is None:  # a worker process: it ends with its process
        time.sleep(seconds)
        return True
    return not event.wait(seconds)


def passes_by(value: Any) -> bool:
    """Whether a stage lets ``value`` by untouched: a failure record, or a weight carrier."""
    return isinstance(value, ItemFailure) or value is CARRIER


def _as_items(result: Any) -> Iterable[Any]:
    """Core logic returns one item, yields many, or returns None to drop."""
    if type(result) in _SINGLE_ITEMS:  # the usual results, without the iterator checks
        return () if result is None else (result,)
    if inspect.isgenerator(result) or (
        isinstance(result, Iterator) and not isinstance(result, (str, bytes, dict))
    ):
        return result
    return (result,)


@dataclass
class StorageCall:
    """What the engine runs for a storage stage: one ``save_many`` (one transaction) per batch.

    Failures from earlier stages pass by unsaved. When a batch cannot be saved (after the
    stage's retries) and failures are item-level, each item is saved on its own, so only the
    items the storage refuses become :class:`ItemFailure` records.
    """

    stage: StageDef
    stage_name: str
    pipeline: str = "?"
    item_level: bool = False
    counters: StageCounters | None = None  # the flow's statistics of this stage

    def __call__(self, items: list[Any], **resources: Any) -> list[Any]:
        if self.counters is None:
            return self._saved(items)
        info = resources.get("worker_info")
        worker = info.index if info is not None else 0
        try:
            result = self._saved(items)
        except Exception:
            self.counters.add(worker, ERRORS, len(items))
            raise
        failed = sum(1 for r, i in zip(result, items) if r is not i and passes_by(_value(r)))
        if failed:
            self.counters.add(worker, ERRORS, failed)
        return result

    def _saved(self, items: list[Any]) -> list[Any]:
        saving = [
            (position, item.value if isinstance(item, Tracked) else item)
            for position, item in enumerate(items)
            if not passes_by(item.value if isinstance(item, Tracked) else item)
        ]
        if not saving:
            return items
        values = [value for _, value in saving]
        attempts = self.stage.retry.attempts
        try:
            self._save(values)
            return items  # saved: the same items go on
        except _NOT_ITEM_FAILURES:
            raise
        except Exception as error:
            tag_stage(error, self.stage_name)
            if not self.item_level:
                raise
            if len(values) == 1:
                return self._replace(items, {saving[0][0]: (values[0], error, attempts)})
        except BaseException as error:
            tag_stage(error, self.stage_name)
            raise
        failed: dict[int, tuple[Any, Exception, int]] = {}
        save_many = self._target()
        for position, value in saving:  # one by one: only the items refused fail
            try:
                save_many([value])
            except _NOT_ITEM_FAILURES:
                raise
            except Exception as error:
                tag_stage(error, self.stage_name)
                failed[position] = (value, error, attempts + 1)
        return self._replace(items, failed)

    def _target(self) -> Callable[[list[Any]], Any]:
        """The storage's ``save_many``, or a batch sender's ``send_many`` (a stream's)."""
        if self.stage.storage is not None:
            return self.stage.storage.get().save_many
        assert self.stage.sender is not None
        send_many: Callable[[list[Any]], Any] = self.stage.sender.get().send_many  # type: ignore[attr-defined]
        return send_many

    def _save(self, values: list[Any]) -> None:
        retry = self.stage.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                self._target()(values)
                return
            except _NOT_ITEM_FAILURES:
                raise
            except Exception as error:
                if attempt >= retry.attempts:
                    raise
                delay = retry.delay(attempt)
                logger.info(
                    "stage %r: saving %d item(s) failed (attempt %d of %d: %s: %s); trying "
                    "again in %.2fs",
                    self.stage_name,
                    len(values),
                    attempt,
                    retry.attempts,
                    type(error).__name__,
                    error,
                    delay,
                    extra={"pipeline": self.pipeline, "stage": self.stage_name},
                )
                if not retry_wait(self.pipeline, delay):
                    raise

    def _replace(
        self, items: list[Any], failed: Mapping[int, tuple[Any, Exception, int]]
    ) -> list[Any]:
        out = list(items)
        for position, (value, error, attempts) in failed.items():
            failure = ItemFailure.of(self.pipeline, self.stage_name, value, error, attempts)
            item = items[position]
            out[position] = (
                Tracked(failure, item.ticket, item.weight) if isinstance(item, Tracked) else failure
            )
        return out


def _value(item: Any) -> Any:
    return item.value if isinstance(item, Tracked) else item


def batch_sender(stage: StageDef) -> bool:
    """Whether ``stage`` sends whole batches (a stream's sender: one pipelined write each)."""
    return stage.sender is not None and stage.options.get("batches") is True


def engine_stage(
    upstream: Any,
    stage: StageDef,
    pipeline: str,
    directory: StorageDirectory,
    item_level: bool = False,
    counters: StageCounters | None = None,
) -> Stage[Any]:
    """``stage`` as an engine stage reading ``upstream``, for one run of ``pipeline``."""
    from .. import _api

    name = f"{pipeline}.{stage.label}"
    convention = (
        call_convention(stage.function, name, resources_possible=True)
        if stage.function is not None
        else None
    )
    operation: Operation
    if stage.role == "storage" or batch_sender(stage):
        operation = MapBatch(StorageCall(stage, name, pipeline, item_level, counters))
    else:
        call = StageCall(stage, name, pipeline, directory, convention, item_level, counters)
        operation = FlatMap(call) if stage.role in ("source", "core_logic") else Map(call)
    operators = _api.Operators(stage.kind, extra={"ray_options": stage.ray_options})
    return operators.named(
        operation,
        upstream,
        name=name,
        workers=stage.workers,
        maxsize=stage.maxsize,
        on_start=stage.on_start,
        on_done=stage.on_done,
        pipeline=pipeline,
        statistics=counters,
    )
