"""Items through Redis keep their types (JSON with explicit dates, decimals and bytes, or
msgpack), an item that does not serialise is an error naming pipeline, stage and stream, and
the broker's options never show a password."""

from __future__ import annotations

import datetime
import decimal
import traceback
import uuid
from typing import Any

import pytest

from weirflow import ConfigError, FlowBuilder, PipelineFailed
from weirflow.connectors.redis import Codec, RedisOptions, make_client

ITEM = {
    "at": datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC),
    "day": datetime.date(2024, 5, 1),
    "price": decimal.Decimal("1.10"),
    "raw": b"\x00\xff",
    "id": uuid.UUID(int=7),
    "nested": [{"n": 1}, ("a", None, True, 2.5)],
}


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_items_cross_the_broker_with_their_types(
    redis_url: str, flow_name: str, serializer: str
) -> None:
    got: list[Any] = []
    builder = FlowBuilder(name=flow_name, broker=redis_url, serializer=serializer)
    builder.add_pipeline("make").with_core_logic(lambda: ITEM).send("stream", name="s")
    builder.add_pipeline("use").with_stream_connector("s").with_storage(got.append)
    builder.build().launch_flow(execution_seconds=60)
    assert got == [{**ITEM, "nested": [{"n": 1}, ["a", None, True, 2.5]]}]


def test_an_item_that_does_not_serialise_names_pipeline_stage_and_stream(
    redis_url: str, flow_name: str
) -> None:
    builder = FlowBuilder(name=flow_name, broker=redis_url)
    builder.add_pipeline("make").with_core_logic(lambda: {"tags": {1, 2}}).send("stream", name="s")
    builder.add_pipeline("use").with_stream_connector("s").with_storage(print)
    with pytest.raises(PipelineFailed) as failed:
        builder.build().launch_flow(execution_seconds=60)
    message = str(failed.value.__cause__)
    assert (
        "pipeline 'make', stage 'make.send': an item for stream 's' does not serialise" in message
    )
    assert "set {1, 2} has no JSON form" in message


def test_codec_marks_and_plain_items() -> None:
    codec = Codec()
    field, data = codec.encode({"$datetime": "not a date", "x": 1})  # two keys: left alone
    assert Codec.decode({field.encode(): data}) == {"$datetime": "not a date", "x": 1}
    with pytest.raises(ValueError, match="not a weirflow stream entry"):
        Codec.decode({b"other": b"1"})


def test_options_never_show_the_password_and_set_timeouts() -> None:
    options = RedisOptions.from_url("rediss://user:hunter2@127.0.0.1:6380/1", verify=False)
    assert "hunter2" not in repr(options)
    assert "hunter2" not in options.shown
    client = make_client(options, block_seconds=0.25)
    try:
        settings = client.connection_pool.connection_kwargs
        assert settings["socket_timeout"] == 5.25
        assert settings["socket_connect_timeout"] == 5.0
        assert settings["health_check_interval"] == 15.0
    finally:
        client.close()
    with pytest.raises(ConfigError, match="socket_timeout"):
        RedisOptions.from_url("redis://127.0.0.1", socket_timeout=float("nan"))


def test_a_refused_password_is_one_error_without_the_password(
    flow_name: str, redis_url: str
) -> None:
    builder = FlowBuilder(name=flow_name, broker="redis://nobody:hunter2@127.0.0.1:6379/0")
    builder.add_pipeline("make").with_core_logic(lambda: 1).send("stream", name="s")
    builder.add_pipeline("use").with_stream_connector("s").with_storage(print)
    with pytest.raises((PipelineFailed, ExceptionGroup)) as failed:
        builder.build().launch_flow(execution_seconds=30)
    text = "".join(traceback.format_exception(failed.value))
    assert "hunter2" not in text
    assert "BrokerError: Redis broker redis://nobody:***@127.0.0.1:6379/0" in text


def test_a_flow_reports_its_streams_status(redis_url: str, flow_name: str) -> None:
    builder = FlowBuilder(name=flow_name, broker=redis_url)
    builder.add_pipeline("make").with_core_logic(lambda: iter(range(5))).send("stream", name="s")
    builder.add_pipeline("use").with_stream_connector("s").with_storage(lambda item: None)
    flow = builder.build()
    flow.launch_flow(execution_seconds=60)
    status = flow.cluster_status()
    assert status.flow == flow_name
    assert status.instances == ()  # the launch deregistered
    [stream] = status.streams
    assert (stream.name, stream.length, stream.dead_letters) == ("s", 0, 0)
    [group] = stream.groups
    assert (group.pipeline, group.lag, group.pending) == ("use", 0, 0)
    with pytest.raises(ConfigError, match="has no broker"):
        FlowBuilder().add_pipeline("p").with_core_logic(lambda: 1).build().cluster_status()
