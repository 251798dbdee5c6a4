"""The actor side of the ``ray`` back end: one actor per worker, driving the shared worker loop.

:class:`StageActor` (made a Ray actor class by ``ray.py``; nothing here imports Ray) holds one
run of the worker loop (``_worker.run_worker``) as a coroutine and steps it, one call per batch:

* ``start()`` runs ``on_start`` and stops where the loop asks for its first batch;
* ``process(batch)`` hands it a batch and runs until the loop asks for the next one;
* ``finish(active)`` says the input has ended: the loop ends, ``on_done`` runs.

Each call returns one pickled reply: the result batches the call produced, the log records made
meanwhile (handled by the driver's handlers, as a worker process's are), the batch size the loop
asks for next (adaptive: ~20 ms of work per call, so the per-call cost of Ray stays small), and,
if the loop raised, the exception in the worker-process wire format (``_process_child``:
pickled with its formatted traceback, :class:`~weirflow.RemoteError` if it does not pickle).
Calls to one actor run one at a time, in order; the driver keeps one queued behind the one that
runs, so an actor never waits for its next batch.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Generator
from typing import Any

from ..._errors import SerializationError
from ..._logforward import ForwardingHandler
from .._batch import Batch
from .._ports import UnreservedOutput
from .._spec import StageSpec
from .._worker import StageRuntime, run_worker
from ._process_child import BATCH_BYTES, PROCESS_MAX_BATCH, _exception_payload

RAY_TARGET_BATCH_SECONDS = 0.02
_PROTOCOL = pickle.HIGHEST_PROTOCOL

BatchData = tuple[list[Any], list[Any], Any]
# ("ok" | "done" | "error", result batches, log records, next limit, exception payload or None)
Reply = tuple[str, list[BatchData], list[dict[str, Any]], int, Any]


class _Need:
    """What the loop awaits for its next batch: the actor's call hands it over."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __await__(self) -> Generator[_Need, Batch | None, Batch | None]:
        batch = yield self
        return batch


class _ActorInput:
    """The loop's input: each ``get`` suspends the loop until the next call brings a batch."""

    target_batch_seconds = RAY_TARGET_BATCH_SECONDS
    max_batch = PROCESS_MAX_BATCH

    def __init__(self) -> None:
        self.bytes_per_item = 0.0

    async def get(self, limit: int) -> Batch | None:
        if self.bytes_per_item:
            limit = max(1, min(limit, int(BATCH_BYTES / self.bytes_per_item)))
        return await _Need(limit)

    def close(self) -> None:
        """Nothing to close: the driver owns the actor."""


class _ActorOutput(UnreservedOutput):
    """The loop's output: result batches gathered for the reply (the driver reserved room)."""

    limit = PROCESS_MAX_BATCH
    max_chunk_age: float | None = None

    def __init__(self) -> None:
        self.batches: list[BatchData] = []

    async def put(self, batch: Batch) -> None:
        self.batches.append((batch.indices, batch.values, batch.marks))

    def done(self) -> None:
        """The driver learns the loop is done from the reply."""


class _Counter:
    """Active workers of the stage, as the driver last said (for ``stage_status``)."""

    def __init__(self, workers: int) -> None:
        self._value = workers

    def set(self, value: int) -> None:
        self._value = value

    def decrement(self) -> None:
        """The driver's count is the truth: it says it with ``finish``."""

    def value(self) -> int:
        return self._value


class _Records:
    """Log records made in the actor, kept for the next reply."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []

    def add(self, tag: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(fields)

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            records, self._records = self._records, []
            return records


class StageActor:
    """One worker of a ray stage (see the module docstring)."""

    def __init__(
        self, spec_bytes: bytes, index: int, track_order: bool, workers: int, levels: Any
    ) -> None:
        spec: StageSpec = pickle.loads(spec_bytes)
        self._name = spec.name
        self._records = _Records()
        root = logging.getLogger()
        root.addHandler(ForwardingHandler(self._records.add))
        for name, level in dict(levels).items():
            logging.getLogger(name or None).setLevel(level)
        self._counter = _Counter(workers)
        self._input = _ActorInput()
        self._output = _ActorOutput()
        runtime = StageRuntime(spec, track_order, self._counter)
        self._loop = run_worker(runtime, index, self._input, self._output)
        self._over = False

    def start(self) -> bytes:
        return self._step(None)

    def process(self, data: bytes) -> bytes:
        indices, values, marks = pickle.loads(data)
        if values:
            self._input.bytes_per_item = len(data) / len(values)
        return self._step(Batch(indices, values, marks))

    def finish(self, active: int) -> bytes:
        self._counter.set(active)
        return self._step(None)

    def _step(self, batch: Batch | None) -> bytes:
        if self._over:
            return self._reply("done", 0, None)
        try:
            need = self._loop.send(batch)
        except StopIteration:
            self._over = True
            return self._reply("done", 0, None)
        except BaseException as error:
            self._over = True
            return self._reply("error", 0, _exception_payload(error))
        assert isinstance(need, _Need)
        return self._reply("ok", need.limit, None)

    def _reply(self, tag: str, limit: int, error: Any) -> bytes:
        batches, self._output.batches = self._output.batches, []
        try:
            return pickle.dumps((tag, batches, self._records.take(), limit, error), _PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as problem:
            failure = SerializationError(
                f"stage {self._name!r}: a result cannot be pickled to leave the Ray actor: "
                f"{problem}"
            )
            if not self._over:
                self._over = True
                self._loop.close()  # the loop ends here: on_done runs
            payload = _exception_payload(failure)
            return pickle.dumps(("error", [], self._records.take(), 0, payload), _PROTOCOL)
