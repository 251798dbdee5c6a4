"""pypeln 0.4 programs run unchanged after ``import weirflow as pl``.

The examples of pypeln's README and documentation, rewritten as tests (deterministic work instead
of random sleeps), plus a check that every operator has pypeln's parameter names and defaults.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any

import pytest

import weirflow as pl

OPERATORS = [
    "map",
    "filter",
    "flat_map",
    "each",
    "ordered",
    "concat",
    "from_iterable",
    "to_iterable",
    "run",
]


def slow_add1(x: int) -> int:
    time.sleep(0.001)  # <= some slow computation
    return x + 1


def slow_gt3(x: int) -> bool:
    time.sleep(0.001)  # <= some slow computation
    return x > 3


def test_readme_thread_example() -> None:
    data = range(10)  # [0, 1, 2, ..., 9]
    stage = pl.thread.map(slow_add1, data, workers=3, maxsize=4)
    stage = pl.thread.filter(slow_gt3, stage, workers=2)
    data = list(stage)  # e.g. [5, 6, 9, 4, 8, 10, 7]
    assert sorted(data) == [4, 5, 6, 7, 8, 9, 10]


def test_readme_task_example() -> None:
    async def slow_add1(x: int) -> int:
        await asyncio.sleep(0.001)  # <= some slow computation
        return x + 1

    async def slow_gt3(x: int) -> bool:
        await asyncio.sleep(0.001)  # <= some slow computation
        return x > 3

    data = range(10)  # [0, 1, 2, ..., 9]
    stage = pl.task.map(slow_add1, data, workers=3, maxsize=4)
    stage = pl.task.filter(slow_gt3, stage, workers=2)
    assert sorted(stage) == [4, 5, 6, 7, 8, 9, 10]


def test_readme_task_example_awaited_in_a_running_loop() -> None:
    async def slow_add1(x: int) -> int:
        await asyncio.sleep(0.001)
        return x + 1

    async def main() -> list[int]:
        data = range(10)
        stage = pl.task.map(slow_add1, data, workers=3, maxsize=4)
        stage = pl.task.filter(lambda x: x > 3, stage, workers=2)
        return await stage

    assert sorted(asyncio.run(main())) == [4, 5, 6, 7, 8, 9, 10]


def test_readme_pipe_operator_example() -> None:
    data = (
        range(10)
        | pl.thread.map(slow_add1, workers=3, maxsize=4)
        | pl.thread.filter(slow_gt3, workers=2)
        | list
    )
    assert sorted(data) == [4, 5, 6, 7, 8, 9, 10]


def test_readme_mixed_example() -> None:
    def slow_mul2(x: int) -> int:
        return x * 2

    async def slow_gt3_async(x: int) -> bool:
        await asyncio.sleep(0)
        return x > 3

    data = (
        range(10)
        | pl.sync.map(slow_add1)
        | pl.thread.map(slow_mul2, workers=4)
        | pl.task.filter(slow_gt3_async, workers=3)
        | list
    )
    assert sorted(data) == [x for x in ((i + 1) * 2 for i in range(10)) if x > 3]


def test_docs_on_start_resources_example() -> None:
    class Session:
        closed = False

        def get(self, url: str) -> str:
            return f"<{url}>"

        def close(self) -> None:
            self.closed = True

    sessions: list[Session] = []

    def on_start() -> dict[str, Any]:
        session = Session()
        sessions.append(session)
        return dict(http_session=session)  # noqa: C408  (as in pypeln's documentation)

    def on_done(http_session: Session) -> None:
        http_session.close()

    def fetch(url: str, http_session: Session) -> str:
        return http_session.get(url)

    urls = [f"http://example.test/{i}" for i in range(20)]
    stage = pl.thread.map(fetch, urls, workers=3, on_start=on_start, on_done=on_done)
    assert sorted(stage) == sorted(f"<{u}>" for u in urls)
    assert len(sessions) == 3
    assert all(s.closed for s in sessions)


def test_docs_task_each_with_run_true() -> None:
    fetched: list[int] = []

    async def fetch(url: int) -> None:
        await asyncio.sleep(0)
        fetched.append(url)

    pl.task.each(fetch, range(100), workers=10, run=True)
    assert sorted(fetched) == list(range(100))


def test_docs_element_index_and_ordered() -> None:
    def slow_square(x: int, element_index: tuple[int, ...]) -> tuple[int, int]:
        return element_index[0], x * x

    stage = pl.thread.map(slow_square, [3, 1, 2], workers=3)
    assert sorted(stage) == [(0, 9), (1, 1), (2, 4)]
    assert list(pl.thread.ordered(pl.thread.map(lambda x: x * x, [3, 1, 2], workers=3))) == [
        9,
        1,
        4,
    ]


def test_docs_on_done_stage_status() -> None:
    statuses: list[tuple[bool, int]] = []
    lock = threading.Lock()

    def on_done(stage_status: pl.StageStatus) -> None:
        with lock:
            statuses.append((stage_status.done, stage_status.active_workers))

    pl.thread.run(pl.thread.each(lambda x: None, range(10), workers=3, on_done=on_done))
    assert len(statuses) == 3
    assert (True, 0) in statuses


def test_docs_worker_info() -> None:
    indexes: set[int] = set()

    def on_start(worker_info: pl.WorkerInfo) -> None:
        indexes.add(worker_info.index)

    list(pl.thread.map(lambda x: x, range(10), workers=4, on_start=on_start))
    assert indexes == {0, 1, 2, 3}


def test_docs_return_index() -> None:
    elements = list(pl.sync.to_iterable(pl.sync.map(str, [7, 8]), return_index=True))
    assert [(e.index, e.value) for e in elements] == [((0,), "7"), ((1,), "8")]


@pytest.mark.parametrize("kind", ["sync", "thread", "task"])
@pytest.mark.parametrize("operator", OPERATORS)
def test_signatures_match_pypeln(kind: str, operator: str) -> None:
    pypeln = pytest.importorskip("pypeln")
    theirs = inspect.signature(getattr(getattr(pypeln, kind), operator))
    ours = inspect.signature(getattr(getattr(pl, kind), operator))
    assert [(p.name, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.kind) for p in theirs.parameters.values()
    ]
    for name, parameter in theirs.parameters.items():
        if not isinstance(parameter.default, type(pypeln.utils.UNDEFINED)):
            assert ours.parameters[name].default == parameter.default, name
