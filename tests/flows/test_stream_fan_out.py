"""Two pipelines reading one stream each get every item, in threads and in processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from weirflow import ConfigError, FlowBuilder


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_two_readers_of_one_stream_each_get_every_item(tmp_path: Path, use_threads: bool) -> None:
    builder = FlowBuilder(use_threads)
    builder.add_pipeline("make").with_core_logic(lambda: iter(range(50))).send("stream", name="s")
    for reader in ("left", "right"):
        builder.add_pipeline(reader).with_stream_connector("s").with_storage(
            "jsonl", path=str(tmp_path / f"{reader}.jsonl")
        )
    flow = builder.build()
    flow.launch_flow(execution_seconds=60)
    for reader in ("left", "right"):
        assert sorted(flow.storage(reader).load()) == list(range(50))


def test_a_pipeline_reading_one_stream_twice_is_refused() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("make").with_core_logic(lambda: 1).send("stream", name="s")
    builder.add_pipeline("use").with_stream_connector("s").with_stream_connector("s")
    with pytest.raises(ConfigError):
        builder.build()


def test_a_cut_stream_without_a_broker_names_both_sides_and_the_fix() -> None:
    builder = FlowBuilder(name="cut")
    builder.add_pipeline("make").with_core_logic(lambda: 1).send("stream", name="s")
    builder.add_pipeline("use").with_stream_connector("s").with_storage(print)
    flow = builder.build()
    with pytest.raises(
        ConfigError, match=r"stream 's' is cut: written by 'make' and read by 'use'"
    ):
        flow.run_part(["use"])
    with pytest.raises(ConfigError, match=r"no pipeline 'mkae' \(did you mean 'make'\?\)"):
        flow.run_part(["mkae"])


def test_the_flow_name_defaults_to_the_file_stem_and_is_checked() -> None:
    assert FlowBuilder().name == "test_stream_fan_out"
    assert FlowBuilder(name="orders").name == "orders"
    with pytest.raises(ConfigError, match="name"):
        FlowBuilder(name="")
    with pytest.raises(ConfigError, match=r"redis:// or rediss://"):
        FlowBuilder(broker="amqp://host")
    with pytest.raises(ConfigError, match=r"did you mean 'msgpack'"):
        FlowBuilder(serializer="msgpak")
    with pytest.raises(ConfigError, match="lease_seconds"):
        FlowBuilder(lease_seconds=0)


def test_stream_connector_options_are_checked() -> None:
    builder = FlowBuilder()
    with pytest.raises(ConfigError, match="claim_idle_seconds"):
        builder.add_pipeline("a").with_stream_connector("s", claim_idle_seconds=0)
    with pytest.raises(ConfigError, match="max_deliveries"):
        builder.add_pipeline("b").with_stream_connector("s", max_deliveries=0)
    with pytest.raises(ConfigError, match="stream_maxsize"):
        builder.add_pipeline("c").with_core_logic(lambda: 1).send(
            "stream", name="s", stream_maxsize=-1
        )
