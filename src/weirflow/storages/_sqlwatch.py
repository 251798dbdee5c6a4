"""Calls of a ``sql`` storage that wait too long: a warning while they wait, and interruption.

A save can block in the database driver for a long time without failing: another session holds
a lock on the table, or the server stopped answering on a connection that is still open. The
server-side ``lock_timeout`` and ``statement_timeout`` bound the first case (see
:mod:`weirflow.storages._sqlengine`); :class:`CallWatch` makes both visible and stoppable:

* each call to a database server is registered while it runs; one that is still running after
  ``warn_after`` seconds is logged once at WARNING (what it waits for, the timeouts that will end
  it), and at INFO when it finally ends;
* a call still running ``give_up_after`` seconds after it started (the storage makes that
  twice its ``statement_timeout`` plus a second: longer than the server would let any of its
  statements run) is abandoned as :meth:`CallWatch.interrupt` abandons it: the server stopped
  answering on a connection that is still open, which no server-side timeout can report;
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
RECHECK_S = 0.5


class _Call:
    __slots__ = ("abandoned", "action", "bounded", "connection", "started", "warned")

    def __init__(self, action: str) -> None:
        self.action = action
        self.started = time.monotonic()
        self.connection: Any = None  # the driver's connection, once checked out
        self.warned = False
        self.abandoned = False  # given up by the watch: the server did not answer in time
        self.bounded = True  # False while it runs DDL, which may rightly take long


class CallWatch:
    """Watches the calls of one storage (see the module's docstring).

    Args:
        site: how log lines name the storage (no password).
        warn_after: seconds a call may run before a WARNING says it waits; None: never.
        limits: what ends a waiting call, for the warning (``"lock_timeout 10 s"``).
        give_up_after: seconds after which a call is abandoned; None: never.
    """

    def __init__(
        self,
        site: Callable[[], str],
        warn_after: float | None,
        limits: str,
        give_up_after: float | None = None,
    ) -> None:
        self._site = site
        self._warn_after = warn_after
        self._give_up_after = give_up_after
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
            watched = self._warn_after is not None or self._give_up_after is not None
            if self._thread is None and not self._closed and watched:
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
        while True:
            with self._changed:
                while not self._closed and not self._to_cancel:
                    late, lost, wake = self._due(time.monotonic())
                    if late or lost:
                        break
                    self._changed.wait(None if wake is None else wake - time.monotonic())
                else:
                    late, lost = [], []
                if self._closed:
                    return
                for entry in late:
                    entry.warned = True
                for entry in lost:
                    entry.abandoned = True
                    self._to_cancel.append(entry.connection)
            for entry in lost:
                logger.warning(
                    "%s: %s got no answer from the database for %.1f s; giving up on this "
                    "connection",
                    self._site(),
                    entry.action,
                    time.monotonic() - entry.started,
                )
                _shut_down(entry.connection)
            for entry in late:
                logger.warning(
                    "%s: %s has waited %.1f s for the database (another session may hold a "
                    "lock on the table, or the server does not answer); still waiting (%s)",
                    self._site(),
                    entry.action,
                    time.monotonic() - entry.started,
                    self._limits,
                )
            self._cancel_pending()

    def _due(self, now: float) -> tuple[list[_Call], list[_Call], float | None]:
        """Calls to warn about, calls to abandon, and when the next one is due (lock held)."""
        late: list[_Call] = []
        lost: list[_Call] = []
        times: list[float] = []
        for entry in self._calls.values():
            if self._warn_after is not None and not entry.warned:
                due = entry.started + self._warn_after
                if now >= due:
                    late.append(entry)
                else:
                    times.append(due)
            if self._give_up_after is not None and entry.bounded and not entry.abandoned:
                due = entry.started + self._give_up_after
                if now < due:
                    times.append(due)
                elif entry.connection is not None:
                    lost.append(entry)
                else:  # still connecting (connect_timeout bounds that): look again soon
                    times.append(now + RECHECK_S)
        return late, lost, min(times, default=None)

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
