"""Threads weirflow starts: named, daemonic, and deaf to SIGINT and SIGTERM.

On Linux a signal sent to the process is delivered to any thread that does not block it. If it
lands on a worker thread, Python notes it but the main thread, blocked waiting for a lock or an
event, is not woken, and Ctrl-C or SIGTERM would go unnoticed until something else woke it.
Every thread weirflow starts therefore blocks those two signals for itself (threads it starts in
turn inherit that), so they always reach the main thread, which handles them at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def start_thread(
    target: Callable[..., Any], *args: Any, name: str, daemon: bool = True
) -> threading.Thread:
    """Start ``target(*args)`` in a new thread that leaves SIGINT/SIGTERM to the main thread."""
    thread = threading.Thread(target=_deaf, args=(target, args), name=name, daemon=daemon)
    thread.start()
    return thread


def make_thread(
    target: Callable[..., Any], *args: Any, name: str, daemon: bool = True
) -> threading.Thread:
    """Like :func:`start_thread`, without starting it."""
    return threading.Thread(target=_deaf, args=(target, args), name=name, daemon=daemon)


def _deaf(target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    target(*args)
