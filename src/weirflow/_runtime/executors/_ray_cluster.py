"""Which Ray cluster ``ray`` stages use, and the one place that imports Ray.

:func:`connect` is called when a ray stage starts. Its policy, in order:

1. Ray is initialised already (the program called ``ray.init(...)``): use that;
2. ``RAY_ADDRESS`` is set: connect to that cluster;
3. otherwise start a local Ray, quietly: no dashboard, no usage statistics, workers' output not
   forwarded (``WEIRFLOW_RAY_LOG_TO_DRIVER=1`` forwards it), as many CPUs as the machine has,
   bound to the loopback interface, and never on Redis's port: a new local instance is asked
   for explicitly (``address="local"``, so a cluster someone else started on this machine is
   not picked up) and its GCS takes a free port of the system's choosing. Only a Ray started
   here is shut down at interpreter exit (:func:`shutdown`).

``ray.init`` on the main thread replaces the SIGTERM handler (with one that calls
``sys.exit``): :func:`connect` puts the previous handler back, so a flow's own signal handling
(``flows/_signals.py``) keeps working, and threads deaf to SIGINT/SIGTERM (``_threads.py``) hear
them again while a local Ray starts, so Ray's own processes are not born deaf to them.
:func:`share_with_children` exports the address, so pipeline processes of a
``use_threads=False`` flow connect to the same cluster (one connection per process).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from ..._threads import start_thread

logger = logging.getLogger("weirflow")

EXTRA_HINT = "ray stages need Ray: pip install 'weirflow[ray]'"
LOG_TO_DRIVER_VARIABLE = "WEIRFLOW_RAY_LOG_TO_DRIVER"

_lock = threading.Lock()
_started_here = False
_exported: str | None = None  # the RAY_ADDRESS this module set, to take back on shutdown
_keeper_stop = threading.Event()  # ends the thread that started a local Ray off the main thread


def ray_module() -> ModuleType:
    """``ray``, imported on first use; a clear error naming the extra when it is missing."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"{EXTRA_HINT} ({error})") from error
    return ray


def started_here() -> bool:
    """Whether the Ray in use is a local one this module started."""
    return _started_here


def connect() -> ModuleType:
    """Make sure this process is connected to a Ray cluster (see the module docstring)."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    with _lock:
        if ray.is_initialized():
            return ray
        address = os.environ.get("RAY_ADDRESS") or None
        with _sigterm_kept(), _quiet_about_signals():
            if address is not None:
                ray.init(address=address, log_to_driver=_log_to_driver())
            else:
                _start_local(ray)
    return ray


def _start_local(ray: ModuleType) -> None:
    """Start a local Ray from a thread that lives as long as it does.

    Ray's own processes die with the thread that started them (Linux's parent-death signal is
    per thread): started from a pipeline's thread, they would die when that run ends. So off the
    main thread a keeper thread starts them and waits for :func:`shutdown`.
    """
    global _started_here
    port = os.environ.get("RAY_GCS_SERVER_PORT")
    if port == "6379":
        raise RuntimeError(
            "RAY_GCS_SERVER_PORT=6379 is Redis's port; unset it to let a local Ray pick a free one"
        )
    if threading.current_thread() is threading.main_thread():
        _init_local(ray)
    else:
        started = threading.Event()
        failures: list[BaseException] = []

        def keep() -> None:
            try:
                _init_local(ray)
            except BaseException as error:
                failures.append(error)
                return
            finally:
                started.set()
            _keeper_stop.wait()

        _keeper_stop.clear()
        start_thread(keep, name="weirflow local Ray")
        started.wait()
        if failures:
            raise failures[0]
    _started_here = True
    atexit.register(shutdown)
    logger.info("started a local Ray for ray stages (at %s)", gcs_address())


def _init_local(ray: ModuleType) -> None:
    with _signals_heard():
        ray.init(
            address="local",
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            log_to_driver=_log_to_driver(),
            logging_level=logging.WARNING,
            _node_ip_address="127.0.0.1",
        )


def gcs_address() -> str:
    """The address of the cluster this process is connected to (``host:port``)."""
    ray = ray_module()
    return str(ray.get_runtime_context().gcs_address)


def share_with_children() -> None:
    """Connect (starting a local Ray if need be) and export its address as ``RAY_ADDRESS``.

    Called before a flow starts its pipeline processes, so each connects to this cluster
    instead of starting its own.
    """
    global _exported
    connect()
    if not os.environ.get("RAY_ADDRESS"):
        _exported = os.environ["RAY_ADDRESS"] = gcs_address()


def shutdown() -> None:
    """Shut down the local Ray this module started; a cluster it only joined is left alone."""
    global _started_here, _exported
    with _lock:
        if _exported is not None and os.environ.get("RAY_ADDRESS") == _exported:
            del os.environ["RAY_ADDRESS"]
        _exported = None
        if not _started_here:
            return
        _started_here = False
        ray_module().shutdown()
        _keeper_stop.set()


def _log_to_driver() -> bool:
    return os.environ.get(LOG_TO_DRIVER_VARIABLE, "") not in ("", "0", "false", "no")


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """Keep this process's SIGTERM handler across ``ray.init`` (which replaces it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_heard() -> Iterator[None]:
    """Unblock SIGINT/SIGTERM in this thread while Ray's processes start (they inherit it)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _NotMainThreadFilter(logging.Filter):
    """Drops Ray's warning that it set no SIGTERM handler off the main thread: by design here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


@contextlib.contextmanager
def _quiet_about_signals() -> Iterator[None]:
    ray_logger = logging.getLogger("ray._private.worker")
    quiet = _NotMainThreadFilter()
    ray_logger.addFilter(quiet)
    try:
        yield
    finally:
        ray_logger.removeFilter(quiet)


def cluster_cpus() -> float:
    """The CPUs of the cluster (for warnings about stages that ask for more)."""
    resources: dict[str, Any] = ray_module().cluster_resources()
    return float(resources.get("CPU", 0))
