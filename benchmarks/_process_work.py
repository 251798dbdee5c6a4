"""The functions the process benchmarks send to worker processes.

They live in a module of their own that imports nothing, so a worker process that unpickles one
imports only this file (not pypeln, mpire or weirflow): every implementation pays the same, small
price to load them.
"""

from __future__ import annotations


def identity(x: int) -> int:
    return x


def add1(x: int) -> int:
    return x + 1


def is_even(x: int) -> bool:
    return x % 2 == 0


def keep_even(x: int) -> int | None:
    """The filter as a map, for ``Pool.imap`` (which has no filter): ``None`` is dropped."""
    return x if x % 2 == 0 else None


def double(x: int) -> int:
    return 2 * x


def burn(x: int, loops: int) -> int:
    """Pure-Python CPU work: ``loops`` iterations of integer arithmetic; returns ``x``."""
    acc = x
    for i in range(loops):
        acc = (acc * 31 + i) % 1_000_003
    return x if acc >= 0 else -1
