"""``async def`` user functions are awaited wherever a flow calls one: core logic (any kind),
configuration, storage and sender functions; their results are the items, never coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from weirflow import FlowBuilder

KINDS = ["task", "thread", "sync"]


async def enrich(x: int) -> dict[str, int]:
    await asyncio.sleep(0)
    return {"x": x, "double": 2 * x}


async def numbers() -> AsyncIterator[int]:
    for x in range(3):
        await asyncio.sleep(0)
        yield x


@pytest.mark.parametrize("kind", KINDS)
def test_async_core_logic_is_awaited(kind: str) -> None:
    received: list[Any] = []
    builder = FlowBuilder()
    builder.add_pipeline("p").with_core_logic(lambda: iter(range(3))).with_core_logic(
        enrich, kind=kind
    ).send(received.append)
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(received, key=lambda r: r["x"]) == [
        {"x": 0, "double": 0},
        {"x": 1, "double": 2},
        {"x": 2, "double": 4},
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_async_generators_and_configuration_are_run(kind: str) -> None:
    received: list[Any] = []

    async def configure() -> dict[str, int]:
        return {"base": 10}

    async def shift(parameters: dict[str, int]) -> AsyncIterator[int]:
        async for x in numbers():
            yield parameters["base"] + x

    builder = FlowBuilder()
    builder.add_pipeline("p").with_configuration(configure, kind=kind).with_core_logic(
        shift, kind=kind
    ).send(received.append)
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(received) == [10, 11, 12]


@pytest.mark.parametrize("kind", KINDS)
def test_async_storage_and_sender_functions_are_awaited(kind: str) -> None:
    stored: list[Any] = []
    sent: list[Any] = []

    async def store(item: Any) -> None:
        await asyncio.sleep(0)
        stored.append(item)

    async def deliver(item: Any) -> None:
        await asyncio.sleep(0)
        sent.append(item)

    builder = FlowBuilder()
    builder.add_pipeline("p").with_core_logic(lambda: iter(range(4))).with_storage(
        store, kind=kind
    ).send(deliver, kind=kind)
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(stored) == [0, 1, 2, 3]
    assert sorted(sent) == [0, 1, 2, 3]


def test_an_async_core_logic_failure_is_an_item_failure_with_retries() -> None:
    calls: list[int] = []
    kept: list[dict[str, Any]] = []

    async def flaky(x: int) -> int:
        calls.append(x)
        if x == 1:
            raise LookupError("not found")
        return x

    received: list[Any] = []
    builder = FlowBuilder()
    builder.add_pipeline("produce").with_core_logic(lambda: iter(range(3))).send("stream", name="s")
    builder.add_pipeline("p", on_failure="continue", dead_letter=kept.append).with_stream_connector(
        "s"
    ).with_core_logic(flaky, kind="task", retries=1, retry_backoff=0).send(received.append)
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(received) == [0, 2]
    assert calls.count(1) == 2
    assert [(r["item"], r["attempts"]) for r in kept] == [(1, 2)]
