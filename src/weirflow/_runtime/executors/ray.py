"""The ``ray`` back end (driver side): each worker is a Ray actor running the worker loop.

Per worker there is one actor (``_ray_actor.StageActor``, placed with the stage's
``num_cpus``/``num_gpus``/``resources``/``runtime_env``) and, in the driver, two threads:

* the *feeder* takes a batch from the stage's input channel when the actor has a free slot (it
  has two: the batch it works on and one queued behind it), reserves room for its results
  downstream, and submits ``actor.process.remote(batch)``, so at most ``maxsize`` elements are
  in flight beyond what the actors are working on;
* the *collector* waits for the replies in order (``ray.wait``/``ray.get`` on each call's
  result), puts their batches downstream (a full downstream channel stops it, and with it the
  feeder: that is the backpressure), hands log records to the driver's handlers, and raises
  what the actor raised. An actor that dies (``os._exit``, OOM-kill, node loss) makes Ray fail
  its pending calls at once: the stage fails with :class:`~weirflow.WorkerDied`.

Stopping stops the feeders; each collector then says ``finish`` (``on_done`` runs in the actor)
and, once joined or past the grace period, every actor is killed, so nothing of the stage is
left in the cluster. An actor still waiting for resources when the input ends (the cluster has
fewer CPUs than the stage asked for) never started: it is dropped, the others did the work.
Which cluster is used, and how a local one starts, is ``_ray_cluster.py``; the options a stage
accepts are checked in ``_ray_options.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import pickle
import queue
import threading
import time
from types import ModuleType
from typing import Any, ClassVar

from ..._errors import ConfigError, WorkerDied, tag_stage
from ..._logforward import handle_forwarded, logging_levels
from ..._threads import make_thread
from .._batch import Batch
from .._channel import Cancelled, Channel
from .._ports import BlockingOutput, Mapper
from .._spec import StageSpec
from . import _ray_cluster
from ._process_child import RemoteTraceback, _rebuild_exception
from ._protocol import Report, Traits, join_in_thread
from ._ray_actor import StageActor
from ._ray_options import actor_options, check_ray_options
from ._reserving import Reservations, batch_limit
from ._shipping import element_bytes, stage_bytes

logger = logging.getLogger("weirflow")

IN_FLIGHT_PER_ACTOR = 2
START_CHECK_SECONDS = 0.25
_END = object()
_actor_class: Any = None


def _remote_actor_class(ray: ModuleType) -> Any:
    global _actor_class
    if _actor_class is None:
        _actor_class = ray.remote(StageActor)
    return _actor_class


class _Stage:
    """What a stage's workers share: whether its input has ended, how many are finishing."""

    def __init__(self, workers: int) -> None:
        self.input_ended = threading.Event()
        self._lock = threading.Lock()
        self._active = workers

    def finishing(self) -> int:
        """One more worker finishes: the number still active after it (for ``stage_status``)."""
        with self._lock:
            self._active -= 1
            return self._active


class _ActorWorker:
    """One actor and the two driver threads that serve it."""

    def __init__(
        self,
        executor: RayExecutor,
        stage: _Stage,
        spec: StageSpec,
        index: int,
        handle: Any,
    ) -> None:
        self.executor = executor
        self.ray = executor.ray
        self.stage = stage
        self.spec = spec
        self.index = index
        self.handle = handle
        self.name = f"{spec.name}[{index}]"
        self.wants: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.reservations = Reservations()
        self.abandoned = False
        self.needs = _needs(actor_options(spec.extra.get("ray_options", {})))

    def serve(self, inp: Channel, out: BlockingOutput, start: Any) -> None:
        for target, label in ((self._feed, "feeder"), (self._collect, "collector")):
            thread = make_thread(target, inp, out, start, name=f"{self.name} {label}")
            self.threads.append(thread)
            thread.start()

    def stop_feeding(self) -> None:
        self.wants.put(None)

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.ray.kill(self.handle, no_restart=True)

    # -- feeding --------------------------------------------------------------------------

    def _feed(self, inp: Channel, out: BlockingOutput, start: Any) -> None:
        share = self.spec.workers
        try:
            while (limit := self.wants.get()) is not None:
                batch = inp.get(batch_limit(out, limit), share)
                if batch is None:
                    self.stage.input_ended.set()
                    break
                self.reservations.reserve(out, len(batch.values))
                data = element_bytes(
                    (batch.indices, batch.values, batch.marks), self.spec.name, "the Ray actor"
                )
                self.calls.put(self.handle.process.remote(data))
        except Cancelled:
            pass
        except BaseException as error:
            self.executor.report(error)
        finally:
            self.calls.put(_END)

    # -- collecting -----------------------------------------------------------------------

    def _collect(self, inp: Channel, out: BlockingOutput, start: Any) -> None:
        self._discarding = False
        try:
            if not self._started(start):
                return
            reply = self._reply(start, out)
            if reply is None:
                return
            for _ in range(IN_FLIGHT_PER_ACTOR):
                self.wants.put(reply)
            while True:
                call = self.calls.get()
                if call is _END:
                    self._reply(self.handle.finish.remote(self.stage.finishing()), out)
                    return
                reply = self._reply(call, out)
                self.reservations.release(out, finished_batch=True)
                if reply is None:
                    return
                self.wants.put(reply)
        except self.ray.exceptions.RayError as error:
            if not (self.executor.stopping or self.abandoned):
                self.executor.report(self._failure(error))
        except BaseException as error:
            self.executor.report(error)
        finally:
            self.wants.put(None)
            self.reservations.release(out, finished_batch=False)
            out.done()

    def _started(self, start: Any) -> bool:
        """Wait for the actor to be placed and its ``on_start`` to end; False if it never was.

        An actor still waiting for resources once the stage's input has ended or the stage
        stops (the cluster cannot place it while its siblings hold theirs) is dropped: it never
        ran anything. One that is only slow to start is waited for (until the grace period
        ends: then every actor is killed).
        """
        while True:
            ready, _ = self.ray.wait([start], timeout=START_CHECK_SECONDS)
            if ready:
                return True
            ending = self.executor.stopping or self.stage.input_ended.is_set()
            if ending and self._waiting_for_resources():
                ready, _ = self.ray.wait([start], timeout=0)
                if ready:
                    return True
                self.abandoned = True
                self.kill()
                return False

    def _waiting_for_resources(self) -> bool:
        """Whether the actor has no worker process yet, and the cluster lacks what it asks."""
        try:
            info = self.ray._private.state.actors(self.handle._actor_id.hex())
            if info.get("Pid"):
                return False
        except Exception:  # the control store's layout changed: go by the resources alone
            pass
        available = self.ray.available_resources()
        return any(available.get(name, 0.0) < amount for name, amount in self.needs.items())

    def _reply(self, call: Any, out: BlockingOutput) -> int | None:
        """Handle one call's reply; the batch size the actor asks for next, or None at its end."""
        tag, batches, records, limit, error = pickle.loads(self.ray.get(call))
        for fields in records:
            handle_forwarded(fields)
        for data in batches:
            if self._discarding:
                break
            if not self.reservations.put(out, Batch(*data)):
                self._discarding = True
        if error is not None:
            self.executor.report(_rebuild_exception(error))
        return int(limit) if tag == "ok" else None

    def _failure(self, error: Exception) -> BaseException:
        """The stage's failure for an error Ray raised instead of a reply."""
        exceptions = self.ray.exceptions
        if isinstance(error, exceptions.RayTaskError):  # raised in the actor, outside the loop
            cause = error.cause if isinstance(error.cause, BaseException) else None
            if cause is not None:
                cause.__cause__ = RemoteTraceback(str(error))
                tag_stage(cause, self.spec.name, self.index, note_only=True)
                return cause
        died = WorkerDied(self.spec.name, None)
        tag_stage(died, self.spec.name, self.index)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        died.add_note(f"weirflow: the Ray actor is gone ({type(error).__name__}: {first_line})")
        return died


def _needs(options: dict[str, Any]) -> dict[str, float]:
    """The cluster resources an actor placed with ``options`` takes."""
    needs = {"CPU": float(options.get("num_cpus", 0)), "GPU": float(options.get("num_gpus", 0))}
    needs.update(options.get("resources", {}))
    return {name: amount for name, amount in needs.items() if amount > 0}


class RayExecutor:
    """Starts a stage's workers as Ray actors and serves them from driver threads."""

    kind = "ray"
    traits: ClassVar[Traits] = Traits(shares_memory=False, crosses_process=True, max_workers=1_024)

    def __init__(self, report: Report, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.report = report
        self.stopping = False
        self.ray: ModuleType = _ray_cluster.ray_module()
        self._workers: list[_ActorWorker] = []
        self._lock = threading.Lock()

    @staticmethod
    def check_options(options: Any, where: str) -> dict[str, Any]:
        """A flow stage's ``ray_options``, checked when it is built (Ray must be installed)."""
        if importlib.util.find_spec("ray") is None:
            raise ConfigError(f"{where}: kind='ray' needs Ray: pip install 'weirflow[ray]'")
        return check_ray_options(options, where)

    @staticmethod
    def prepare_processes() -> dict[str, str]:
        """Before a flow starts pipeline processes: the environment that has them all join this
        process's cluster."""
        return _ray_cluster.share_with_children()

    def start_stage(
        self,
        spec: StageSpec,
        inp: Channel,
        targets: list[tuple[Channel, Mapper]],
        track_order: bool,
    ) -> None:
        ray = _ray_cluster.connect()
        options = actor_options(spec.extra.get("ray_options", {}))
        self._warn_if_too_big(spec, options)
        spec_ref = ray.put(stage_bytes(spec, "the Ray actors"))
        actor_class = _remote_actor_class(ray).options(
            **options, max_restarts=0, max_task_retries=0
        )
        stage = _Stage(spec.workers)
        levels = logging_levels()
        for index in range(spec.workers):
            handle = actor_class.remote(spec_ref, index, track_order, spec.workers, levels)
            worker = _ActorWorker(self, stage, spec, index, handle)
            with self._lock:
                self._workers.append(worker)
                stopping = self.stopping
            worker.serve(inp, BlockingOutput(targets), handle.start.remote())
            if stopping:
                worker.stop_feeding()

    def _warn_if_too_big(self, spec: StageSpec, options: dict[str, Any]) -> None:
        wanted = float(options.get("num_cpus", 1)) * spec.workers
        available = _ray_cluster.cluster_cpus()
        if wanted > available:
            logger.warning(
                "stage %r: %d workers of %g CPU(s) each ask for %g CPUs, the Ray cluster has "
                "%g: some actors wait for CPUs (lower num_cpus= or workers=)",
                spec.name,
                spec.workers,
                float(options.get("num_cpus", 1)),
                wanted,
                available,
            )

    def cancel(self) -> None:
        with self._lock:
            self.stopping = True
            workers = list(self._workers)
        for worker in workers:
            worker.stop_feeding()

    def join(self, deadline: float) -> list[str]:
        """Wait for the workers until ``deadline``, then kill every actor of the stage."""
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.threads[1].join(max(0.0, deadline - time.monotonic()))
        self.stopping = True  # an actor killed now is not a failure
        for worker in workers:
            worker.kill()
        for worker in workers:
            for thread in worker.threads:
                thread.join(max(1.0, deadline - time.monotonic()))
        return [t.name for w in workers for t in w.threads if t.is_alive()]

    async def ajoin(self, deadline: float) -> list[str]:
        return await join_in_thread(self.join, deadline)


executor_class = RayExecutor
