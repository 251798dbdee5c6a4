"""Which Ray cluster ``ray`` stages use, and the one place that imports Ray.

:func:`connect` is called when a ray stage starts. Its policy, in order:

1. Ray is initialised already (the program called ``ray.init(...)``): use that;
2. ``RAY_ADDRESS`` is set: connect to that cluster;
3. otherwise start a local Ray, quietly: no dashboard, no usage statistics, workers' output not
   forwarded (``WEIRFLOW_RAY_LOG_TO_DRIVER=1`` forwards it), as many CPUs as the machine has,
   bound to the loopback interface, and never on Redis's port: a new local instance is asked
   for explicitly (``address="local"``, so a cluster someone else started on this machine is
   not picked up) and its GCS takes a free port of the system's choosing. It runs in a process
   of its own session (``_ray_head.py``), so signals sent to the program's process group do
   not kill Ray under a flow that is stopping, and it ends with the program. Only a Ray
   started here is shut down at interpreter exit (:func:`shutdown`).

``ray.init`` on the main thread replaces the SIGTERM handler (with one that calls
``sys.exit``): :func:`connect` puts the previous handler back, so a flow's own signal handling
(``flows/_signals.py``) keeps working. :func:`share_with_children` exports the address, so
pipeline processes of a ``use_threads=False`` flow connect to the same cluster (one connection
per process).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

logger = logging.getLogger("weirflow")

EXTRA_HINT = "ray stages need Ray: pip install 'weirflow[ray]'"
LOG_TO_DRIVER_VARIABLE = "WEIRFLOW_RAY_LOG_TO_DRIVER"

_lock = threading.Lock()
_started_here = False
_head: subprocess.Popen[str] | None = None  # the process holding the local Ray started here
HEAD_EXIT_SECONDS = 30.0


def ray_module() -> ModuleType:
    """``ray``, imported on first use; a clear error naming the extra when it is missing."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray's C++ core would take SIGTERM (and SIGSEGV...) over in this process: the signals are
    # the program's (flows/_signals.py), and a SIGTERM it handled ended it with SIGABRT at exit
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
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
    """Start a local Ray in a process of its own (``_ray_head.py``) and connect to it."""
    global _head, _started_here
    if os.environ.get("RAY_GCS_SERVER_PORT") == "6379":
        raise RuntimeError(
            "RAY_GCS_SERVER_PORT=6379 is Redis's port; unset it to let a local Ray pick a free one"
        )
    # token authentication (Ray's default for a local start) unless told otherwise, said to
    # the head and kept here, where this process and its children connect with it
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    head = subprocess.Popen(
        [sys.executable, "-m", f"{__package__}._ray_head", str(os.cpu_count() or 1)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # group signals (Ctrl-C, a service manager's) stay ours
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert head.stdout is not None
    said = head.stdout.readline().split()
    if not said or said[0] != "address":
        _end_head(head)
        raise RuntimeError(f"a local Ray could not start: {' '.join(said[1:]) or 'no answer'}")
    try:
        if os.environ["RAY_AUTH_MODE"] == "token":
            _token_mode_here()
        ray.init(address=said[1], log_to_driver=_log_to_driver(), logging_level=logging.WARNING)
    except BaseException:
        _end_head(head)
        raise
    _head = head
    _started_here = True
    atexit.register(shutdown)
    logger.info("started a local Ray for ray stages (at %s)", said[1])


def _token_mode_here() -> None:
    """Token authentication for this process too (Ray caches its mode: refresh it)."""
    try:
        from ray._private.authentication.authentication_token_setup import _enable_token_auth
    except ImportError:  # a Ray without token authentication
        return
    _enable_token_auth()


def _end_head(head: subprocess.Popen[str]) -> None:
    """Close the head's input (it shuts Ray down and exits); kill its session if it lingers."""
    if head.stdin is not None:
        with contextlib.suppress(OSError):
            head.stdin.close()
    try:
        head.wait(HEAD_EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(5)
    if head.stdout is not None:
        head.stdout.close()


def gcs_address() -> str:
    """The address of the cluster this process is connected to (``host:port``)."""
    ray = ray_module()
    return str(ray.get_runtime_context().gcs_address)


def share_with_children() -> dict[str, str]:
    """Connect (starting a local Ray if need be); the environment children need to join it.

    Called before a flow starts its pipeline processes, so each connects to this cluster
    instead of starting its own: ``RAY_ADDRESS`` (unless the program set it), given to those
    processes only. This process's own environment is left as it was, so nothing points at a
    cluster after it is shut down.
    """
    connect()
    if os.environ.get("RAY_ADDRESS"):
        return {}
    return {"RAY_ADDRESS": gcs_address()}


def shutdown() -> None:
    """Shut down the local Ray this module started; a cluster it only joined is left alone."""
    global _started_here, _head
    with _lock:
        if not _started_here:
            return
        _started_here = False
        ray_module().shutdown()
        if _head is not None:
            _end_head(_head)
            _head = None


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
