"""The worker-process side of the ``process`` back end, and how exceptions cross the boundary.

A worker process runs :func:`_worker_main`: it rebuilds the stage spec (sent once, by value),
and runs the shared worker loop between two ports, :class:`_ChildInput` (asks the parent's
feeder for batches, one queued ahead) and :class:`_ChildOutput` (sends result batches to the
parent's collector). What it raises goes back as :func:`_exception_payload` (pickled if it
rebuilds, with its formatted traceback) and is rebuilt in the parent by
:func:`_rebuild_exception`. The parent side (starting, feeding, collecting, joining) is in
``process.py``; this module is what a worker process needs, and what ``forkserver`` preloads.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import pickle
import signal
import threading
import traceback
from collections.abc import Callable
from multiprocessing.context import BaseContext
from typing import Any

from ..._errors import RemoteError, SerializationError
from ..._logforward import forward_logging
from .._batch import Batch
from .._channel import Cancelled
from .._ports import UnreservedOutput
from .._spec import StageSpec
from .._tracebacks import trim_to_user_code
from .._worker import StageRuntime, drive_blocking, run_worker

logger = logging.getLogger("weirflow")
Connection = multiprocessing.connection.Connection

PROCESS_TARGET_BATCH_SECONDS = 0.005
PROCESS_MAX_BATCH = 4096
BATCH_BYTES = 1 << 20
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class _SharedCounter:
    """Active-worker count in shared memory, for ``stage_status`` in ``on_done``."""

    def __init__(self, context: BaseContext, workers: int) -> None:
        self._value = context.Value("i", workers)

    def decrement(self) -> None:
        with self._value.get_lock():
            self._value.value -= 1

    def value(self) -> int:
        return int(self._value.value)


# -- the worker process -------------------------------------------------------------------------


class _ChildInput:
    """The worker's input: asks the parent for batches and receives them."""

    target_batch_seconds = PROCESS_TARGET_BATCH_SECONDS
    max_batch = PROCESS_MAX_BATCH

    def __init__(self, receive: Connection, send: Callable[[Any], None]) -> None:
        self._receive = receive
        self._send = send
        self._asked = False
        self._bytes_per_item = 0.0

    async def get(self, limit: int) -> Batch | None:
        if self._bytes_per_item:
            limit = max(1, min(limit, int(BATCH_BYTES / self._bytes_per_item)))
        if not self._asked:  # one batch queued ahead of the one being worked on
            self._send(("want", limit))
            self._asked = True
        self._send(("want", limit))
        try:
            data = self._receive.recv_bytes()
        except (EOFError, OSError):
            return None
        tag, payload = pickle.loads(data)
        if tag != "batch":
            return None
        indices, values, marks = payload
        if values:
            self._bytes_per_item = len(data) / len(values)
        return Batch(indices, values, marks)

    def close(self) -> None:
        self._receive.close()


class _ChildOutput(UnreservedOutput):
    """The worker's output: sends result batches to the parent.

    Not eager (each send pickles: results leave in chunks) and reserving nothing: the parent's
    feeder reserves room downstream before it sends the worker a batch.
    """

    limit = PROCESS_MAX_BATCH
    max_chunk_age: float | None = None

    def __init__(self, send: Callable[[Any], None], stage: str) -> None:
        self._send = send
        self._stage = stage

    async def put(self, batch: Batch) -> None:
        try:
            self._send(("batch", (batch.indices, batch.values, batch.marks)))
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise SerializationError(
                f"stage {self._stage!r}: a result cannot be pickled to leave the worker "
                f"process: {error}"
            ) from error

    def done(self) -> None:
        """The parent learns the worker is done from the final message."""


def _worker_main(
    spec_bytes: bytes,
    index: int,
    track_order: bool,
    receive: Connection,
    send_conn: Connection,
    active: _SharedCounter,
    levels: dict[str, int],
) -> None:
    """Entry point of a worker process; its log records go to the parent's handlers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sending = threading.Lock()  # log records may come from helper threads (timeouts)

    def send(message: Any) -> None:
        data = pickle.dumps(message, _PROTOCOL)
        with sending:
            send_conn.send_bytes(data)

    forward_logging(lambda tag, fields: send((tag, fields)), levels)

    try:
        spec: StageSpec = pickle.loads(spec_bytes)
        runtime = StageRuntime(spec, track_order, active)
        inp = _ChildInput(receive, send)
        drive_blocking(run_worker(runtime, index, inp, _ChildOutput(send, spec.name)))
    except Cancelled:
        pass
    except BaseException as error:
        with contextlib.suppress(OSError):
            send(("error", _exception_payload(error)))
    with contextlib.suppress(OSError):
        send(("done", None))
    send_conn.close()


def _exception_payload(error: BaseException) -> tuple[bytes | None, str, str, str, str]:
    full = "".join(traceback.format_exception(error))
    formatted = "".join(traceback.format_exception(trim_to_user_code(error)))
    pickled: bytes | None
    try:
        pickled = pickle.dumps(error, _PROTOCOL)
        pickle.loads(pickled)  # some exceptions pickle but cannot be rebuilt
    except Exception:
        pickled = None
    name = f"{type(error).__module__}.{type(error).__qualname__}"
    return pickled, name, str(error), formatted, full


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (set as its ``__cause__``)."""

    def __init__(self, formatted: str) -> None:
        super().__init__(formatted)
        self.formatted = formatted

    def __str__(self) -> str:
        return f"\n\n--- traceback in the worker process ---\n{self.formatted}"


def _rebuild_exception(payload: tuple[bytes | None, str, str, str, str]) -> BaseException:
    pickled, name, message, formatted, full = payload
    logger.debug("a worker process raised; its full traceback:\n%s", full)
    if pickled is not None:
        try:
            error: BaseException = pickle.loads(pickled)
        except Exception:
            return RemoteError(name, message, formatted)
        error.__cause__ = RemoteTraceback(formatted)
        return error
    return RemoteError(name, message, formatted)
