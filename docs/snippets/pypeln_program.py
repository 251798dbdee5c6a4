"""A pypeln 0.4 program, unchanged but for its import line.

python pypeln_program.py
"""

from __future__ import annotations

import asyncio
import time

import weirflow as pl  # was: import pypeln as pl


def slow_add1(x: int) -> int:
    time.sleep(0.01)  # <= some slow computation
    return x + 1


def slow_gt3(x: int) -> bool:
    time.sleep(0.01)
    return x > 3


async def slow_double(x: int) -> int:
    await asyncio.sleep(0.01)  # <= some slow async I/O
    return x * 2


data = range(10)  # [0, 1, 2, ..., 9]
stage = pl.thread.map(slow_add1, data, workers=3, maxsize=4)
stage = pl.thread.filter(slow_gt3, stage, workers=2)
stage = pl.task.map(slow_double, stage, workers=5)
result = list(stage)  # in completion order, e.g. [10, 8, 12, ...]
print(sorted(result))
assert sorted(result) == [8, 10, 12, 14, 16, 18, 20]

piped = range(10) | pl.thread.map(slow_add1, workers=3) | pl.sync.filter(slow_gt3) | list
assert sorted(piped) == [4, 5, 6, 7, 8, 9, 10]
