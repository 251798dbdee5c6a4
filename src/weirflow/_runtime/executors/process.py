"""The ``process`` back end (parent side): each worker is an OS process running the worker loop.

Per worker there are two pipes and, in the parent, two threads:

* the *feeder* answers the worker's requests for work: it takes a batch (as many elements as
  the worker asked for, sized so ~5 ms of work or ~1 MiB crosses at once) from the stage's input
  channel and sends it; the worker always has one batch queued while it works on another;
* the *collector* receives result batches (and puts them downstream, which is the backpressure:
  a full downstream channel stops the collector, the pipe fills, the worker waits), the worker's
  exception if it raised, and its final "done". A pipe that closes without "done" means the
  process died: the stage fails with :class:`~weirflow.WorkerDied` and its exit code.

The stage function travels once, with cloudpickle (lambdas and closures from ``__main__`` work;
``_pickling`` keeps their file names); elements travel with pickle, in batches. Exceptions come
back pickled, with the worker's formatted traceback (from the user's frame on) as their
``__cause__`` (:class:`~weirflow.RemoteError` if they don't pickle).
Workers ignore SIGINT: the parent decides when they stop. Stopping closes a worker's input pipe
(its loop ends, ``on_done`` runs, it exits); one still busy after the grace period is terminated.

The seam: this module is the parent side (start method, starting, feeding, collecting, joining);
the worker process's entry point, its ports and the exception wire format are in
``_process_child.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from multiprocessing.context import BaseContext
from typing import ClassVar

from ..._errors import WorkerDied, tag_stage
from ..._logforward import handle_forwarded, logging_levels
from ..._threads import make_thread
from .._batch import Batch
from .._channel import Cancelled, Channel
from .._ports import BlockingOutput, Mapper
from .._spec import StageSpec
from ._process_child import (
    _exception_payload as _exception_payload,  # re-exported for the flows' process mode
)
from ._process_child import _rebuild_exception as _rebuild_exception
from ._process_child import _SharedCounter, _worker_main
from ._protocol import Report, Traits, join_in_thread
from ._reserving import Reservations, batch_limit
from ._shipping import element_bytes, stage_bytes

logger = logging.getLogger("weirflow")
Connection = multiprocessing.connection.Connection

START_METHODS = ("forkserver", "spawn", "fork")

_start_method: str | None = os.environ.get("WEIRFLOW_START_METHOD") or None


def set_start_method(method: str | None) -> None:
    """Choose how worker processes start: ``"forkserver"``, ``"spawn"`` or ``"fork"``.

    ``None`` restores the default: ``forkserver`` where the platform has it (fast, and safe in a
    program that runs threads, which ``fork`` is not), else ``spawn``. The environment variable
    ``WEIRFLOW_START_METHOD`` sets the initial value.

    Example:
        >>> import weirflow as wf
        >>> wf.process.set_start_method("spawn")
        >>> wf.process.get_start_method()
        'spawn'
        >>> wf.process.set_start_method(None)
    """
    if method is not None and method not in multiprocessing.get_all_start_methods():
        from ..._errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"start method must be one of {multiprocessing.get_all_start_methods()}, got {method!r}"
        )
    global _start_method
    _start_method = method


def get_start_method() -> str:
    """The start method worker processes use (see :func:`set_start_method`)."""
    if _start_method:
        return _start_method
    available = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in available else "spawn"


def _context() -> BaseContext:
    method = get_start_method()
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__])
    return context


# -- the parent side ----------------------------------------------------------------------------


@contextlib.contextmanager
def _main_module_not_reimported() -> Iterator[None]:
    """Workers don't need ``__main__``: its functions travel by value (cloudpickle).

    Skipping its re-import lets scripts without an ``if __name__ == "__main__"`` guard use
    process stages under ``spawn``/``forkserver``, as they could under ``fork``.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(getattr(main, "__spec__", None), "name", None):
        yield
        return
    saved = main.__dict__.get("__spec__")
    main.__spec__ = ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = saved


class _Worker:
    """One worker process and the two parent threads that serve it."""

    def __init__(
        self,
        executor: ProcessExecutor,
        spec: StageSpec,
        index: int,
        process: multiprocessing.process.BaseProcess,
        to_child: Connection,
        from_child: Connection,
    ) -> None:
        self.executor = executor
        self.spec = spec
        self.index = index
        self.process = process
        self.to_child = to_child
        self.from_child = from_child
        self.wants: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        # room reserved downstream for the results of each batch sent and not yet finished
        self.reservations = Reservations()

    def serve(self, inp: Channel, out: BlockingOutput) -> None:
        name = f"{self.spec.name}[{self.index}]"
        for target, label in ((self._feed, "feeder"), (self._collect, "collector")):
            thread = make_thread(target, inp, out, name=f"{name} {label}")
            self.threads.append(thread)
            thread.start()

    def stop_feeding(self) -> None:
        self.wants.put(None)

    def _feed(self, inp: Channel, out: BlockingOutput) -> None:
        share = self.spec.workers
        try:
            while (limit := self.wants.get()) is not None:
                batch = inp.get(batch_limit(out, limit), share)
                if batch is None:
                    # said, not only implied by closing: under fork, sibling workers may hold
                    # copies of this pipe and the worker would never see it close
                    self.to_child.send_bytes(pickle.dumps(("end", None)))
                    break
                self.reservations.reserve(out, len(batch.values))
                data = element_bytes(
                    ("batch", (batch.indices, batch.values, batch.marks)),
                    self.spec.name,
                    "the worker process",
                )
                self.to_child.send_bytes(data)
        except (Cancelled, OSError):
            pass
        except BaseException as error:
            self.executor.report(error)
        finally:
            self.to_child.close()

    def _collect(self, inp: Channel, out: BlockingOutput) -> None:
        finished = False
        discarding = False
        wants = 0
        try:
            while True:
                try:
                    data = self.from_child.recv_bytes()
                except (EOFError, OSError):
                    break
                tag, payload = pickle.loads(data)
                if tag == "want":
                    wants += 1
                    if wants > 2:  # the worker asks again: it is done with its oldest batch
                        out.release(self.reservations.left(finished_batch=True))
                    self.wants.put(payload)
                elif tag == "batch" and not discarding:
                    discarding = not self.reservations.put(out, Batch(*payload))
                elif tag == "log":
                    handle_forwarded(payload)
                elif tag == "error":
                    self.executor.report(_rebuild_exception(payload))
                elif tag == "done":
                    finished = True
                    break
        finally:
            self.wants.put(None)
            self.reservations.release(out, finished_batch=False)
            self.from_child.close()
            self.process.join(None if finished else 5)
            if not finished and not self.executor.stopping:
                self.executor.report(self._died())
            out.done()

    def _died(self) -> WorkerDied:
        """The failure of a worker process that ended without saying "done"."""
        died = WorkerDied(self.spec.name, self.process.exitcode)
        tag_stage(died, self.spec.name, self.index)
        return died


def end_process(process: multiprocessing.process.BaseProcess) -> None:
    """Terminate a process still running, then kill it if it does not go within a second."""
    if process.is_alive():
        process.terminate()
        process.join(1)
    if process.is_alive():
        process.kill()
        process.join(1)


class ProcessExecutor:
    """Starts a stage's workers as processes and serves them from parent threads."""

    kind = "process"
    traits: ClassVar[Traits] = Traits(shares_memory=False, crosses_process=True, max_workers=1_024)

    def __init__(self, report: Report, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.report = report
        self.stopping = False
        self._workers: list[_Worker] = []
        self._counters: list[_SharedCounter] = []

    def start_stage(
        self,
        spec: StageSpec,
        inp: Channel,
        targets: list[tuple[Channel, Mapper]],
        track_order: bool,
    ) -> None:
        context = _context()
        spec_bytes = stage_bytes(spec, "the worker processes")
        active = _SharedCounter(context, spec.workers)
        self._counters.append(active)  # alive until the workers are joined
        levels = logging_levels()  # the workers log at this process's levels, through it
        for index in range(spec.workers):
            out = BlockingOutput(targets)  # its collector's: a producer of each target
            child_receive, to_child = context.Pipe(duplex=False)
            from_child, child_send = context.Pipe(duplex=False)
            process = context.Process(  # type: ignore[attr-defined]
                target=_worker_main,
                args=(spec_bytes, index, track_order, child_receive, child_send, active, levels),
                name=f"weirflow {spec.name}[{index}]",
                daemon=True,
            )
            with _main_module_not_reimported():
                process.start()
            child_receive.close()
            child_send.close()
            worker = _Worker(self, spec, index, process, to_child, from_child)
            self._workers.append(worker)
            worker.serve(inp, out)

    def cancel(self) -> None:
        self.stopping = True
        for worker in self._workers:
            worker.stop_feeding()

    def join(self, deadline: float) -> list[str]:
        """Wait for workers until ``deadline``; terminate (then kill) those still running."""
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        for worker in self._workers:
            end_process(worker.process)
        for worker in self._workers:
            for thread in worker.threads:
                thread.join(max(1.0, deadline - time.monotonic()))
        return [t.name for w in self._workers for t in w.threads if t.is_alive()] + [
            w.process.name for w in self._workers if w.process.is_alive()
        ]

    async def ajoin(self, deadline: float) -> list[str]:
        return await join_in_thread(self.join, deadline)


executor_class = ProcessExecutor
