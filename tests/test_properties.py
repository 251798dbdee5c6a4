"""Property tests: for any input, workers and maxsize, stages agree with the built-ins."""

from __future__ import annotations

from collections import Counter
from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import weirflow

KINDS = [weirflow.sync, weirflow.thread, weirflow.task]

common = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
data = st.lists(st.integers(min_value=-1000, max_value=1000), max_size=300)
workers = st.integers(min_value=1, max_value=6)
maxsize = st.integers(min_value=0, max_value=8)
kinds = st.sampled_from(KINDS)


def expand(x: int) -> list[int]:
    return [x] * (x % 4)


@common
@given(kinds, data, workers, maxsize)
def test_map_gives_the_same_multiset_as_map(
    pl: ModuleType, items: list[int], n: int, size: int
) -> None:
    result = pl.map(lambda x: x * 3 - 1, items, workers=n, maxsize=size)
    assert Counter(result) == Counter(x * 3 - 1 for x in items)


@common
@given(kinds, data, workers, maxsize)
def test_filter_gives_the_same_multiset_as_filter(
    pl: ModuleType, items: list[int], n: int, size: int
) -> None:
    result = pl.filter(lambda x: x % 3 == 0, items, workers=n, maxsize=size)
    assert Counter(result) == Counter(x for x in items if x % 3 == 0)


@common
@given(kinds, data, workers, maxsize)
def test_flat_map_gives_the_same_multiset_as_nested_loops(
    pl: ModuleType, items: list[int], n: int, size: int
) -> None:
    result = pl.flat_map(expand, items, workers=n, maxsize=size)
    assert Counter(result) == Counter(y for x in items for y in expand(x))


@common
@given(kinds, data, workers, maxsize)
def test_ordered_gives_the_same_list(pl: ModuleType, items: list[int], n: int, size: int) -> None:
    stage = pl.flat_map(expand, items, workers=n, maxsize=size)
    stage = pl.filter(lambda x: x % 5 != 0, stage, workers=n, maxsize=size)
    stage = pl.map(lambda x: x + 1, stage, workers=n, maxsize=size)
    expected = [y + 1 for x in items for y in expand(x) if y % 5 != 0]
    assert list(pl.ordered(stage, maxsize=size)) == expected


@common
@given(st.lists(kinds, min_size=1, max_size=4), data, workers, maxsize)
def test_mixed_kinds_keep_order_and_content(
    chain: list[ModuleType], items: list[int], n: int, size: int
) -> None:
    stage: object = items
    for pl in chain:
        stage = pl.map(lambda x: x * 2, stage, workers=n, maxsize=size)
    factor = 2 ** len(chain)
    assert list(weirflow.thread.ordered(stage)) == [x * factor for x in items]
