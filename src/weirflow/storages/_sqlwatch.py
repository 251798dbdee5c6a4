"""Calls of a ``sql`` storage that wait too long: a warning while they wait, and interruption.

A save can block in the database driver for a long time without failing: another session holds
a lock on the table, or the server stopped answering on a connection that is still open. The
server-side ``lock_timeout`` and ``statement_timeout`` bound the first case (see
:mod:`weirflow.storages._sqlengine`); :class:`CallWatch` makes both visible and stoppable:

* each call to a database server is registered while it runs; one that is still running after
  ``warn_after`` seconds is logged once at WARNING (what it waits for, the timeouts that will end
  it), and at INFO when it finally ends;
* :meth:`CallWatch.interrupt` (the flow is stopping) makes every registered call give up at
  once: its connection's socket is shut down, so the thread blocked in the driver wakes with a
  connection error, and the server is asked (best effort, in the watch's thread) to cancel the
  statement, so that it does not keep waiting for the lock on its side.

The watch's thread runs from the first call to :meth:`CallWatch.close`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .._threads import start_thread

logger = logging.getLogger("weirflow.storages")

CANCEL_TIMEOUT_S = 1.0


class _Call:
    __slots__ = ("action", "connection", "started", "warned")

    def __init__(self, action: str) -> None:
        self.action = action
        self.started = time.monotonic()
        self.connection: Any = None  # the driver's connection, once checked out
        self.warned = False


class CallWatch:
    """Watches the calls of one storage (see the module's docstring).

    Args:
        site: how log lines name the storage (no password).
        warn_after: seconds a call may run before a WARNING says it waits; None: never.
        limits: what ends a waiting call, for the warning (``"lock_timeout 10 s"``).
    """

    def __init__(self, site: Callable[[], str], warn_after: float | None, limits: str) -> None:
        self._site = site
        self._warn_after = warn_after
        self._limits = limits
        self._calls: dict[int, _Call] = {}
        self._changed = threading.Condition()
        self._to_cancel: list[Any] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def call(self, action: str) -> Iterator[_Call]:
        """Register a call for its duration; set ``.connection`` once it has one."""
        entry = _Call(action)
        key = id(entry)
        with self._changed:
            self._calls[key] = entry
            if self._thread is None and not self._closed and self._warn_after is not None:
                self._thread = start_thread(self._run, name=f"weirflow sql watch {self._site()}")
            self._changed.notify()
        try:
            yield entry
        finally:
            with self._changed:
                del self._calls[key]
                warned = entry.warned
            if warned:
                logger.info(
                    "%s: %s ended after waiting %.1f s",
                    self._site(),
                    action,
                    time.monotonic() - entry.started,
                )

    def interrupt(self) -> int:
        """Make every call in progress fail now; returns how many were interrupted."""
        with self._changed:
            connections = [c.connection for c in self._calls.values() if c.connection is not None]
            self._to_cancel.extend(connections)
            threaded = self._thread is not None
            self._changed.notify()
        if not threaded:  # no thread to send the cancel requests: send them now
            self._cancel_pending()
        for connection in connections:
            _shut_down(connection)
        return len(connections)

    def close(self) -> None:
        """Stop the watch's thread (calls still registered are no longer watched)."""
        with self._changed:
            self._closed = True
            thread, self._thread = self._thread, None
            self._changed.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._cancel_pending()

    def reopen(self) -> None:
        with self._changed:
            self._closed = False

    # -- the watch's thread ---------------------------------------------------------------------

    def _run(self) -> None:
        assert self._warn_after is not None
        warn_after = self._warn_after
        while True:
            late: list[_Call] = []
            with self._changed:
                while not self._closed and not self._to_cancel:
                    now = time.monotonic()
                    due = [c for c in self._calls.values() if not c.warned]
                    late = [c for c in due if now - c.started >= warn_after]
                    if late:
                        break
                    next_due = min((c.started + warn_after for c in due), default=None)
                    self._changed.wait(None if next_due is None else next_due - now)
                if self._closed:
                    return
                for entry in late:
                    entry.warned = True
            self._cancel_pending()
            for entry in late:
                logger.warning(
                    "%s: %s has waited %.1f s for the database (another session may hold a "
                    "lock on the table, or the server does not answer); still waiting (%s)",
                    self._site(),
                    entry.action,
                    time.monotonic() - entry.started,
                    self._limits,
                )

    def _cancel_pending(self) -> None:
        with self._changed:
            connections, self._to_cancel = self._to_cancel, []
        for connection in connections:
            _cancel(connection)


def _shut_down(connection: Any) -> None:
    """Shut the connection's socket down: a thread waiting on it wakes with an error.

    The descriptor is not closed (the driver still owns it); shutting a socket down from
    another thread is safe, unlike closing the driver's connection under it.
    """
    fileno = getattr(connection, "fileno", None)
    try:
        fd = fileno() if callable(fileno) else -1
        if fd < 0:
            return
        sock = socket.socket(fileno=os.dup(fd))
    except (OSError, ValueError, AttributeError) as error:
        logger.debug("cannot shut down a database connection: %s", error)
        return
    with sock, contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _cancel(connection: Any) -> None:
    """Ask the server to cancel the connection's statement (bounded; errors ignored)."""
    try:
        cancel_safe = getattr(connection, "cancel_safe", None)
        if callable(cancel_safe):  # psycopg 3.2+: bounded, safe from another thread
            cancel_safe(timeout=CANCEL_TIMEOUT_S)
    except Exception as error:  # the connection may be gone already: nothing to cancel
        logger.debug("cancelling a database statement failed: %s", error)
