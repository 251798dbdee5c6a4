"""Waking a flow's supervisor from signals and threads without locks, and ending descendants.

A Python signal handler runs in the main thread between two bytecodes, possibly while that
thread holds a lock (inside ``Event.wait()`` or ``Event.clear()``): a handler that takes a lock,
as ``Event.set()`` does, can deadlock the process. So the supervisor waits on a self-pipe
(:class:`Waker`: ``select`` on its read end) and the flow's handler (:class:`SignalStop`) only
sets plain attributes and writes a byte to the pipe; the supervisor acts on them once awake.
The pipe is also the signal wake-up fd, so a signal delivered to another thread wakes the
supervisor too, and threads the supervisor starts are born with the signals blocked.

Ctrl-C in a terminal and ``systemd``'s stop signal the whole process group, and GNU ``timeout``
signals its child and then the group: two SIGINTs microseconds apart are one Ctrl-C. A SIGINT
more than :data:`DUPLICATE_SECONDS` after the first is a second Ctrl-C: the handler kills the
flow's descendant processes, says so on stderr and exits with 130.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from types import FrameType

DUPLICATE_SECONDS = 0.25
MAX_WAIT_SECONDS = 3600.0  # select() refuses absurd timeouts; waiting loops look again


class Waker:
    """A self-pipe: :meth:`wake` from any thread or a signal handler, :meth:`wait` in one.

    Nothing here takes a lock. A wake-up is never lost: a byte written before :meth:`wait`
    makes it return at once.

    Example:
        >>> waker = Waker()
        >>> waker.wake()
        >>> waker.wait(10.0)  # returns at once
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        weakref.finalize(self, _close_fds, self._read, self._write)

    @property
    def fileno(self) -> int:
        """The write end (for ``signal.set_wakeup_fd``)."""
        return self._write

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe: a wake-up is pending already
            os.write(self._write, b"\0")

    def wait(self, timeout: float | None) -> None:
        """Return when woken (now, if a wake-up is pending) or after ``timeout`` seconds."""
        if timeout is not None:
            timeout = min(max(0.0, timeout), MAX_WAIT_SECONDS)
        select.select([self._read], [], [], timeout)
        self.drain()

    def drain(self) -> None:
        """Forget pending wake-ups (before looking at what to wait for)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class SignalStop:
    """What SIGINT/SIGTERM asked of one launch; see the module docstring.

    Attributes:
        received: the first signal's number, or ``None``.
        processes: process ids (each a process group's leader) killed, with their groups, on a
            forced exit; the supervisor keeps it up to date.
    """

    def __init__(self, waker: Waker) -> None:
        self.waker = waker
        self.received: int | None = None
        self.first_at = 0.0
        self.processes: list[int] = []

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: plain assignments, a clock read and a pipe write; no lock."""
        now = time.monotonic()
        if self.received is None:
            self.first_at = now
            self.received = signum
            self.waker.wake()
        elif signum == signal.SIGINT and now - self.first_at >= DUPLICATE_SECONDS:
            self.force_exit()

    def force_exit(self) -> None:
        """A second Ctrl-C: kill what the flow started, say so, exit with 130."""
        killed = kill_processes(self.processes)
        os.write(
            2,
            (
                "weirflow: second Ctrl-C: exiting at once with status 130 without waiting for "
                f"the runs in progress ({killed} process(es) killed, storages not closed)\n"
            ).encode(),
        )
        os._exit(130)


_keep_after_a_signal = False


def keep_handlers_after_a_signal() -> None:
    """After a flow stopped by a signal, keep its handler (the command line calls this).

    The flow is over, so a late SIGTERM (or the second of a pair) is ignored instead of killing
    the process before it has printed its summary; a later Ctrl-C still exits at once.
    """
    global _keep_after_a_signal
    _keep_after_a_signal = True


@contextlib.contextmanager
def handling_signals(waker: Waker, install: bool = True) -> Iterator[SignalStop]:
    """Install :class:`SignalStop` for SIGINT and SIGTERM (main thread only) while inside.

    With ``install=False`` nothing about signals changes: the program around the flow (an
    orchestrator's task runner) keeps its own handlers, and what they raise ends the flow.
    """
    stop = SignalStop(waker)
    if not install or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    # a signal delivered to another thread (one not yet deaf) still wakes the supervisor
    previous_fd = signal.set_wakeup_fd(waker.fileno, warn_on_full_buffer=False)
    try:
        yield stop
    finally:
        signal.set_wakeup_fd(previous_fd)
        if stop.received is None or not _keep_after_a_signal:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Threads started inside are born deaf to SIGINT/SIGTERM; those signals wait until after.

    A thread made by the main thread blocks them itself (``_threads.py``), but only once it
    runs: a signal landing in between would be noted by a thread that cannot act on it.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def kill_processes(leaders: list[int]) -> int:
    """SIGKILL each process group led by ``leaders`` and every descendant of this process.

    Returns:
        How many processes were signalled (Linux; elsewhere only the groups are killed).
    """
    killed = 0
    for pid in list(leaders):
        killed += kill_group(pid)
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def kill_group(leader: int) -> int:
    """SIGKILL the process group of ``leader``; 1 if one was there, else 0."""
    try:
        os.killpg(leader, signal.SIGKILL)
    except OSError:  # gone already, or it never started a group of its own
        return 0
    return 1


def descendants(root: int) -> list[int]:
    """The ids of ``root``'s descendant processes (from ``/proc``; empty where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found
