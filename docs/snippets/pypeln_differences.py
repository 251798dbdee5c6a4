"""Where weirflow differs from pypeln: each difference shown by a check that holds.

python pypeln_differences.py
"""

from __future__ import annotations

import logging
import threading

import weirflow as pl

logging.basicConfig(level=logging.WARNING)

# --8<-- [start:ordered]
# ordered() streams: the first element comes out while later ones are still being computed
# (pypeln's ordered() waits for the whole input and sorts it in memory).
release, last_done = threading.Event(), threading.Event()


def slow_last(x: int) -> int:
    if x == 9:
        release.wait(10)  # held until the consumer has seen element 0
        last_done.set()
    return x


values = []
for value in pl.thread.ordered(pl.thread.map(slow_last, range(10), workers=3)):
    if not values:
        assert not last_done.is_set()  # element 9 is not done yet
        release.set()
    values.append(value)
assert values == list(range(10))
# --8<-- [end:ordered]

# --8<-- [start:maxsize]
# maxsize bounds everything a stage computed ahead of its consumer, batches included:
# one element taken from maxsize=3 means at most 4 calls so far (pypeln promises 5).
calls = []
lock = threading.Lock()


def f(x: int) -> int:
    with lock:
        calls.append(x)
    return x


values_iter = iter(pl.thread.to_iterable(pl.thread.map(f, range(20), workers=3), maxsize=3))
first = next(values_iter)
with lock:
    assert len(calls) <= 4, calls
rest = list(values_iter)
assert sorted([first, *rest]) == list(range(20))
# --8<-- [end:maxsize]

# --8<-- [start:timeout]
# timeout skips an element whose call overruns, as in pypeln, and says so in a WARNING
# (the call is abandoned on a helper thread, never killed mid-way: pypeln raises into it).
unblock = threading.Event()


def fetch(x: int) -> int:
    if x == 2:
        unblock.wait(10)  # hangs past the timeout
    return x


fetched = sorted(pl.thread.map(fetch, range(5), workers=2, timeout=0.5))
unblock.set()
assert fetched == [0, 1, 3, 4]
# --8<-- [end:timeout]

# --8<-- [start:errors]
# A failing worker: you get the very exception object it raised, with its traceback and a
# note naming the stage and worker (pypeln raises a new exception whose message is the text
# of the traceback).
raised = ValueError("bad reading: 'x'")


def parse(text: str) -> int:
    if text == "x":
        raise raised
    return int(text)


try:
    list(pl.thread.map(parse, ["1", "2", "x"], workers=2))
except ValueError as error:
    caught = error
assert caught is raised
print(caught.__notes__)  # ["weirflow: raised in worker 1 of stage 'thread.map(parse)'"]
# --8<-- [end:errors]
print("every difference checked")
