"""``Flow``: many pipelines under one supervisor.

``launch_flow`` starts one runner per pipeline (a thread each, or with ``use_threads=False`` a
process each, see ``_processes.py``) and waits for the first of: every pipeline done, a pipeline
failing under the ``stop`` policy, the time limit, SIGINT/SIGTERM, or :meth:`Flow.stop`. Then it
stops taking new work, cancels the runs in progress (at once for a failure or the time limit;
after a grace period for a signal), joins the runners, closes storages, senders and sources, and
raises the failure if there was one: a :class:`~weirflow.PipelineFailed` naming the pipeline and
stage with the original exception as ``__cause__`` (an ``ExceptionGroup`` when several failed
together). The supervisor waits on a self-pipe that signal handlers and threads write to, never
on a lock a handler could need (``_signals.py``). Every launch has its own state: nothing leaks
from one flow, or one launch, to the next. It logs at INFO a start banner, one line per finished
scheduled run and why the flow stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError, PipelineFailed
from .._interfaces import Storage
from .._runtime._supervisor import Run
from .._threads import make_thread
from ._distribution import Distribution, StreamTopology
from ._lazy import Lazy, close_all
from ._pipeline import Pipeline, PipelineStatistics
from ._processes import launch_in_processes
from ._schedule import Clock, SystemClock
from ._signals import Waker, handling_signals, signals_held
from ._stages import StorageDirectory
from ._statistics import (
    FlowCounters,
    FlowStatistics,
    connections,
    pipeline_status,
    stage_statistics,
)
from ._streams import Broker, ProcessBroker, ThreadBroker, register_broker, unregister_broker
from ._supervise import (
    STOP_JOIN_SECONDS,
    Observer,
    SupervisedRunner,
    close_continuous_sources,
    grace_seconds,
    join_all,
    raise_failures,
    run_and_wake,
    supervise,
)
from ._targets import describe_flow

if TYPE_CHECKING:
    from ..observe import StatusServer

logger = logging.getLogger("weirflow")

_deferred: list[tuple[Flow, float | None, str | None]] | None = None


class Flow:
    """A built, validated service; run it with :meth:`launch_flow`."""

    def __init__(
        self,
        pipelines: tuple[Pipeline, ...],
        storages: Mapping[str, Lazy[Storage]],
        streams: Mapping[str, int],
        use_threads: bool,
        flow_id: str,
        clock: Clock | None = None,
        topology: StreamTopology | None = None,
        distribution: Distribution | None = None,
    ) -> None:
        self.pipelines = pipelines
        self.use_threads = use_threads
        self.flow_id = flow_id
        self.clock: Clock = clock or SystemClock()
        self.topology = topology or StreamTopology({name: ("",) * n for name, n in streams.items()})
        self.distribution = distribution or Distribution()
        self._storages = dict(storages)
        self._streams = dict(streams)  # stream name -> number of pipelines writing to it
        self._statistics: dict[str, Callable[[], PipelineStatistics]] = {}
        self._runs: dict[str, Callable[[], Run | None]] = {}
        self.observers: list[Observer] = []
        self._waker = Waker()
        self._stop_asked = False
        self._launch_lock = threading.Lock()
        self._counters: FlowCounters | None = None
        self._broker: Broker | None = None
        self._started: float | None = None  # time.time() of the launch in progress or last
        self._ended: float | None = None
        self._connections: Callable[[], Mapping[str, bool | None]] = self._local_connections
        self._pings: list[threading.Event] = []
        self._pings_lock = threading.Lock()
        self._server: StatusServer | None = None

    @property
    def name(self) -> str:
        """The flow's name (``FlowBuilder(name=...)``): the prefix of its Redis keys."""
        return self.distribution.name

    def with_part(self, pipelines: tuple[Pipeline, ...], distribution: Distribution) -> Flow:
        """This flow running only ``pipelines`` (see :func:`~weirflow.flows._parts.select_part`)."""
        names = [pipeline.name for pipeline in pipelines]
        topology = self.topology if distribution.broker else self.topology.within(names)
        return Flow(
            pipelines,
            storages=self._storages,
            streams=topology.writer_counts(),
            use_threads=self.use_threads,
            flow_id=self.flow_id,
            clock=self.clock,
            topology=topology,
            distribution=distribution,
        )

    def run_part(
        self,
        pipelines: list[str] | None = None,
        broker: str | None = None,
        execution_seconds: float | None = None,
    ) -> None:
        """Run only ``pipelines`` of this flow (all when ``None``), through ``broker`` if given.

        What ``weirflow run --pipelines a,b --broker URL`` does; see :meth:`launch_flow`.

        Raises:
            ConfigError: an unknown pipeline, or a stream cut without a broker.
        """
        from ._parts import select_part

        part = select_part(self, pipelines, broker)
        try:
            part.launch_flow(execution_seconds)
        finally:
            self._statistics = part._statistics

    def cluster_status(self) -> Any:
        """The running instances and the streams of this flow in its Redis broker, now.

        A :class:`~weirflow.flows._stream_status.FlowStatus` (frozen values: instances with
        host, pid, pipelines, start and last heartbeat; per stream its length and per reading
        pipeline its lag, pending entries, consumers and dead letters), what ``weirflow
        status`` prints. Safe to call from any thread, while the flow runs or not.

        Raises:
            ConfigError: the flow has no broker.
            BrokerError: Redis did not answer within 5 s, or refused.
        """
        if self.distribution.broker is None:
            raise ConfigError(f"flow {self.name!r} has no broker: its streams live in this process")
        from ._redis_broker import RedisBroker

        broker = RedisBroker.for_flow(self)
        try:
            return broker.flow_status()
        finally:
            broker.release()

    def make_broker(self, context: Any = None) -> Broker:
        """The broker of one launch: Redis when the flow has one, else local queues."""
        topology = self.topology
        if self.distribution.broker is not None:
            from ._redis_broker import RedisBroker

            return RedisBroker.for_flow(self)
        if context is None:
            return ThreadBroker(
                topology.writer_counts(), readers=topology.readers, maxsizes=topology.maxsizes
            )
        return ProcessBroker(
            topology.writer_counts(), context, readers=topology.readers, maxsizes=topology.maxsizes
        )

    # -- inspection ---------------------------------------------------------------------------

    def describe(self) -> str:
        """The pipelines, their stages and what each talks to, as ``weirflow check`` prints."""
        return describe_flow(self)

    def storage(self, pipeline: str) -> Storage:
        """The storage of ``pipeline`` (to read what the flow saved)."""
        return StorageDirectory(self._storages)[pipeline]

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Runs, failures, restarts and items per pipeline: live while the flow runs.

        ``runs`` counts runs that did not fail (a run cut short by the time limit or a stop
        included), ``items`` the items that passed the pipeline's last stage (for continuous
        pipelines too: their one run lasts as long as the flow).
        """
        return {name: asdict(read()) for name, read in self._statistics.items()}

    def live_runs(self) -> dict[str, Run | None]:
        """The run in progress of each pipeline running in this process (a flow in threads;
        empty for one in processes), for live displays: read it, do not drive it."""
        return {name: read() for name, read in self._runs.items()}

    def status(self) -> FlowStatistics:
        """Everything about the flow now, as frozen values (live while it runs; the last
        launch's afterwards): per pipeline its state, schedule, runs, last error and per stage
        workers busy, items by outcome, latency and input queue fill; its streams.

        Example:
            >>> from weirflow import FlowBuilder
            >>> builder = FlowBuilder()
            >>> builder.add_pipeline("p", timedelta_seconds=60).with_core_logic(lambda: 1)
            ... # doctest: +ELLIPSIS
            <...>
            >>> status = builder.build().status()
            >>> status.state, [p.name for p in status.pipelines]
            ('idle', ['p'])
        """
        counts = {name: read() for name, read in self._statistics.items()}
        connected = self._connections() if self._started is not None else {}
        pipelines = tuple(
            pipeline_status(
                pipeline,
                counts.get(pipeline.name) or PipelineStatistics(),
                stage_statistics(pipeline, self._counters),
                connected.get(pipeline.name),
            )
            for pipeline in self.pipelines
        )
        broker = self._broker
        if self._started is None:
            state, uptime = "idle", 0.0
        elif self._ended is None:
            state, uptime = "running", time.time() - self._started
        else:
            state, uptime = "stopped", self._ended - self._started
        return FlowStatistics(
            flow_id=self.flow_id,
            state=state,
            mode="threads" if self.use_threads else "processes",
            started=self._started,
            uptime_seconds=max(0.0, uptime),
            pipelines=pipelines,
            streams=broker.stream_status() if broker is not None else (),
        )

    @property
    def status_url(self) -> str | None:
        """The address of the status page while a launch with ``http=`` serves it (its real
        port when ``http`` asked for port 0), else ``None``."""
        server = self._server
        return server.url if server is not None else None

    def ping(self, timeout: float = 2.0) -> bool:
        """Whether the supervisor of a running launch answers within ``timeout`` seconds."""
        if self._started is None or self._ended is not None:
            return False
        answered = threading.Event()
        with self._pings_lock:
            self._pings.append(answered)
        self._waker.wake()
        return answered.wait(timeout)

    def _heartbeat(self) -> None:
        """The supervisor is awake: answer the pings waiting."""
        with self._pings_lock:
            pings, self._pings = self._pings, []
        for answered in pings:
            answered.set()

    def _local_connections(self) -> Mapping[str, bool | None]:
        return connections(self.pipelines)

    def close_resources(self) -> None:
        """Close this flow's connectors, storages and senders opened in this process."""
        close_all([*self._storages.values(), *(r for p in self.pipelines for r in p.resources())])

    def stop(self) -> None:
        """Ask a running :meth:`launch_flow` to stop gracefully (any thread; takes no lock)."""
        self._stop_asked = True
        self._waker.wake()

    # -- running ------------------------------------------------------------------------------

    def launch_flow(
        self,
        execution_seconds: float | None = None,
        http: str | None = None,
        *,
        handle_signals: bool = True,
    ) -> None:
        """Run the flow until it finishes, fails, the time limit passes or it is stopped.

        While ``weirflow run`` or ``weirflow check`` loads a service file, a call at the file's
        top level does not run the flow: the command line runs it (``run``, with this
        ``execution_seconds`` unless ``--execution-seconds`` is given) or only checks it.

        Args:
            execution_seconds: a hard limit (a finite number of seconds > 0); the call returns
                within about 1.5 s after it, even with a run in progress (a run that ends
                within half a second is kept; others are cancelled; a pipeline process whose
                user code does not return is killed 2 s after that). ``None``: run
                until every pipeline is done or the flow is stopped (SIGINT/SIGTERM, or
                :meth:`stop`).
            http: ``"host:port"`` to serve, while the flow runs, Prometheus ``/metrics``,
                ``/healthz``, ``/readyz``, ``/api/status`` and a live status page at ``/``
                (``"127.0.0.1:8000"``; port 0 picks a free one). Bind to an address other
                than localhost only on a network you trust: nothing is authenticated.
            handle_signals: stop gracefully on SIGINT/SIGTERM (the default, for a service of
                its own). ``False`` leaves signals to the program around the flow (an
                orchestrator's task): no handler is installed, and whatever the program's
                handler raises (``KeyboardInterrupt`` included) cancels the runs in progress,
                closes everything and comes out of this call.

        Raises:
            ConfigError: ``execution_seconds`` is not a finite number > 0, or ``http`` is not
                ``host:port`` (or its port is taken, or ``prometheus-client`` is missing).
            PipelineFailed: a pipeline failed under the ``stop`` policy (an ``ExceptionGroup``
                of them when several failed together).
        """
        execution_seconds = check_execution_seconds(execution_seconds)
        if _deferred is not None:
            _deferred.append((self, execution_seconds, http))
            return
        if not self._launch_lock.acquire(blocking=False):
            raise RuntimeError("this flow is already running")
        server = None
        try:
            self._stop_asked = False
            self._waker.drain()
            self._new_counters()
            if http is not None:
                from ..observe import serve

                server = self._server = serve(self, http)
            started = time.monotonic()
            self._started, self._ended = time.time(), None
            logger.info("%s", banner(self, server.url if server is not None else None))
            if self.use_threads:
                self._launch_in_threads(execution_seconds, handle_signals)
            else:
                launch_in_processes(self, execution_seconds, handle_signals)
            logger.info("flow stopped after %.1fs", time.monotonic() - started)
        finally:
            self._ended = time.time()
            if server is not None:
                self._server = None
                server.close()
            if self._counters is not None:
                self._counters.release()
            self._launch_lock.release()

    def _new_counters(self) -> FlowCounters:
        if self._counters is not None:
            self._counters.discard()
        self._counters = FlowCounters(self.pipelines)
        return self._counters

    def _launch_in_threads(self, execution_seconds: float | None, handle_signals: bool) -> None:
        stop = threading.Event()
        failures: list[PipelineFailed] = []
        failures_lock = threading.Lock()
        waker = self._waker

        def report(failure: PipelineFailed) -> None:
            with failures_lock:
                failures.append(failure)
            logger.error(
                "%s", failure, extra={"pipeline": failure.pipeline, "stage": failure.stage}
            )
            stop.set()
            waker.wake()

        broker = self.make_broker()
        broker.start([pipeline.name for pipeline in self.pipelines])
        register_broker(self.flow_id, broker)
        self._broker = broker
        self._connections = self._local_connections
        directory = StorageDirectory(self._storages)
        counters = self._counters
        assert counters is not None
        runners = [
            SupervisedRunner(
                pipeline,
                directory,
                self.clock,
                stop,
                report,
                stage_counters=counters.of(pipeline.name),
            )
            for pipeline in self.pipelines
        ]
        self._statistics = {r.pipeline.name: _reader(r.statistics) for r in runners}
        self._runs = {r.pipeline.name: r.current for r in runners}
        ended: set[str] = set()  # marked before the wake-up: a thread may still be alive
        threads = [
            make_thread(
                run_and_wake,
                runner,
                waker,
                broker,
                ended,
                name=f"weirflow pipeline {runner.pipeline.name}",
            )
            for runner in runners
        ]
        reason = "interrupted"  # unless supervise returns: a signal handler's exception
        with handling_signals(waker, handle_signals) as signals:
            try:
                with signals_held():
                    for thread in threads:
                        thread.start()
                reason = supervise(
                    self, signals, stop, lambda: len(ended) < len(threads), execution_seconds
                )
            finally:
                stop.set()
                broker.close()
                close_continuous_sources(self.pipelines)
                if not failures:
                    join_all(threads, grace_seconds(reason))  # let runs in progress finish
                for runner in runners:
                    runner.cancel()
                left = join_all(threads, STOP_JOIN_SECONDS)
                self._runs = {}
                unregister_broker(self.flow_id)
                broker.release()
                self.close_resources()
        if left:
            logger.warning("pipelines still busy in user code after stopping: %s", ", ".join(left))
        raise_failures(failures)


def banner(flow: Flow, address: str | None = None) -> str:
    """The line a launch starts with: the pipelines, their schedules, the status page.

    Example:
        >>> import weirflow as wf
        >>> flow = wf.FlowBuilder().add_pipeline("numbers", 10).with_core_logic(print).build()
        >>> banner(flow, address="127.0.0.1:8000")
        'flow starting: 1 pipeline(s) in threads: numbers (every 10s); status page at http://127.0.0.1:8000/'
    """
    mode = "threads" if flow.use_threads else "processes"
    parts = [
        f"{p.name} ({'continuous' if p.continuous else p.schedule.describe()})"
        for p in flow.pipelines
    ]
    line = f"flow starting: {len(flow.pipelines)} pipeline(s) in {mode}: {', '.join(parts)}"
    if address:
        url = address if "://" in address else f"http://{address}"
        line += f"; status page at {url.rstrip('/')}/"
    return line


def _reader(statistics: PipelineStatistics) -> Callable[[], PipelineStatistics]:
    return lambda: statistics


def check_execution_seconds(value: Any) -> float | None:
    """``value`` as a time limit: ``None``, or a finite number of seconds > 0.

    Raises:
        ConfigError: anything else (``nan``, ``inf``, ``-1``, ``0``, ``"60"``, ``True``).

    Example:
        >>> check_execution_seconds(60)
        60.0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(
            f"execution_seconds must be a number of seconds (or None: run until stopped), "
            f"got {value!r}"
        )
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(
            f"execution_seconds must be a finite number of seconds > 0 (or None: run until "
            f"stopped), got {value!r}"
        )
    return seconds


@contextlib.contextmanager
def deferring_launches() -> Iterator[list[tuple[Flow, float | None, str | None]]]:
    """While inside, ``launch_flow`` records ``(flow, execution_seconds, http)`` instead of
    running."""
    global _deferred
    saved, _deferred = _deferred, []
    try:
        yield _deferred
    finally:
        _deferred = saved
