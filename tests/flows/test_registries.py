"""The kind registries: ``register_storage``, ``register_sender``, ``register_connector``.

A registered kind works in a flow like a built-in one, in threads and in processes (the factory
is looked up when the stage is added and travels with the pipeline, so a spawned pipeline
process does not need the registration); a taken name is refused; an unknown name is a
``ConfigError`` with a "did you mean" and every registered name. The named builder methods
forward every option of their class (the signatures are compared), and the registry keeps the
sender modules out of an import circle with their package.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from weirflow import (
    ConfigError,
    FlowBuilder,
    Source,
    register_connector,
    register_sender,
    register_storage,
)
from weirflow._registry import CONNECTORS, SENDERS, STORAGES, Registry
from weirflow.connectors.http import HttpSource
from weirflow.connectors.mqtt import MqttSource
from weirflow.flows import PipelineBuilder
from weirflow.flows._streams import StreamSource
from weirflow.testing import ListSender, ListSource, ListStorage

from ..import_graph import circles

# -- factories a user would write (module level: they travel to processes by reference) ------


def counting(*, count: int, pipeline: str) -> Source:
    """A connector factory: ``count`` items naming the pipeline."""
    return ListSource([f"{pipeline}:{number}" for number in range(count)])


def kept(*, path: str) -> ListStorage:
    """A storage factory without ``pipeline``: it is not passed."""
    return ListStorage(path)


@pytest.fixture
def registered(tmp_path: Path) -> Iterator[Path]:
    """``counting``, ``kept`` and ListSender registered for one test, then forgotten."""
    register_connector("counting", counting)
    register_storage("kept", kept)
    register_sender("listed", "weirflow.testing:ListSender")  # the "module:name" form
    try:
        yield tmp_path
    finally:
        CONNECTORS.unregister("counting")
        STORAGES.unregister("kept")
        SENDERS.unregister("listed")


@pytest.mark.parametrize(
    ("use_threads", "kind"),
    [(True, "thread"), (False, "thread"), (True, "process")],
    ids=["threads", "processes", "process-stages"],
)
def test_registered_kinds_work_end_to_end(registered: Path, use_threads: bool, kind: str) -> None:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("numbers").with_connector("counting", count=3, kind=kind).with_storage(
        "kept", path=str(registered / "stored"), kind=kind
    ).send("listed", path=str(registered / "sent"), kind=kind)
    flow = builder.build()
    # The factories are in the pipeline now: the registry is not asked again.
    CONNECTORS.unregister("counting")
    STORAGES.unregister("kept")
    SENDERS.unregister("listed")
    try:
        flow.launch_flow()
    finally:
        register_connector("counting", counting)
        register_storage("kept", kept)
        register_sender("listed", "weirflow.testing:ListSender")
    expected = ["numbers:0", "numbers:1", "numbers:2"]
    assert sorted(flow.storage("numbers").load()) == expected
    assert sorted(ListStorage(registered / "stored").load()) == expected
    assert sorted(ListSender(registered / "sent").items) == expected


def test_a_continuous_registered_connector_starts_a_pipeline(registered: Path) -> None:
    register_connector("stream_of", lambda items: ListSource(items, continuous=True))
    try:
        builder = FlowBuilder()
        builder.add_pipeline("live").with_connector("stream_of", items=[1, 2]).with_storage(
            "kept", path=str(registered / "live")
        )
        flow = builder.build()
        assert flow.pipelines[0].stages[0].continuous
        with pytest.raises(ConfigError, match="continuous source, read by one thread"):
            FlowBuilder().add_pipeline("p").with_connector("stream_of", items=[1], workers=2)
    finally:
        CONNECTORS.unregister("stream_of")


def test_with_connector_reaches_the_built_in_kinds() -> None:
    builder = FlowBuilder()
    pipeline = builder.add_pipeline("p").with_connector(
        "http", source="http://localhost:8026/now", data={"a": 1}, retries=0
    )
    pipeline.with_storage(print)
    builder.add_pipeline("q").with_connector("mqtt", topic="t/#", client_id="q").send(print)
    builder.add_pipeline("r").with_core_logic(lambda: 1).send("stream", name="s")
    builder.add_pipeline("s").with_connector("stream", name="s").send(print)
    flow = builder.build()
    first = {pipeline.name: pipeline.stages[0] for pipeline in flow.pipelines}
    assert first["p"].label == "http_connector"
    assert first["p"].source.get().method == "GET"  # type: ignore[union-attr]
    assert (first["q"].label, first["q"].continuous) == ("mqtt_connector", True)
    assert (first["s"].label, first["s"].continuous) == ("stream_connector", True)


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("register", "registry"),
    [(register_storage, STORAGES), (register_sender, SENDERS), (register_connector, CONNECTORS)],
    ids=["storage", "sender", "connector"],
)
def test_a_taken_name_needs_replace(register: Callable[..., None], registry: Registry[Any]) -> None:
    register("taken", ListStorage)
    try:
        with pytest.raises(ConfigError, match="'taken' is registered already; pass replace=True"):
            register("taken", ListSender)
        assert registry["taken"] is ListStorage
        register("taken", ListSender, replace=True)
        assert registry["taken"] is ListSender
    finally:
        registry.unregister("taken")
    assert "taken" not in registry
    for name, factory, problem in [
        ("", ListStorage, "non-empty str"),
        (3, ListStorage, "non-empty str"),
        ("x", 3, "must be a class, a function or 'package.module:name'"),
        ("x", "no_colon", "'package.module:name'"),
    ]:
        with pytest.raises(ConfigError, match=problem):
            register(name, factory)


def test_built_in_names_are_taken_too() -> None:
    for register, name in [
        (register_storage, "json"),
        (register_sender, "http_post"),
        (register_connector, "http"),
    ]:
        with pytest.raises(ConfigError, match="registered already"):
            register(name, ListStorage)
    assert list(STORAGES) == ["json", "jsonl", "csv", "sql"]
    assert list(SENDERS)[:3] == ["http_post", "http_put", "mqtt"]
    assert list(CONNECTORS)[:2] == ["http", "mqtt"]


def error_of(call: Callable[[], Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        call()
    return str(caught.value)


def test_an_unknown_name_lists_the_registered_ones(registered: Path) -> None:
    def pipeline() -> PipelineBuilder:
        return FlowBuilder().add_pipeline("p")

    message = error_of(lambda: pipeline().with_connector("countin", count=1))
    assert message == (
        "pipeline 'p', stage 'p.connector': with_connector('countin'): unknown connector kind "
        "'countin' (did you mean 'counting'?); use one of 'http', 'mqtt', 'counting', "
        "'stream', or a Source object with with_source(...)"
    )
    message = error_of(lambda: pipeline().with_core_logic(print).with_storage("kep"))
    assert message.startswith(
        "pipeline 'p', stage 'p.storage': with_storage('kep'): unknown storage kind 'kep' "
        "(did you mean 'kept'?); use one of 'json', 'jsonl', 'csv', 'sql', 'kept'"
    )
    message = error_of(lambda: pipeline().with_core_logic(print).send("htp_post"))
    assert message.startswith(
        "pipeline 'p', stage 'p.send': send('htp_post'): unknown sender kind 'htp_post' "
        "(did you mean 'http_post'?); use one of 'http_post', 'http_put', 'mqtt'"
    )
    assert "'listed', 'stream', a Sender or a function" in message


def test_options_of_a_registered_kind_are_checked_at_build(registered: Path) -> None:
    message = error_of(lambda: FlowBuilder().add_pipeline("p").with_connector("counting", cout=1))
    assert message == (
        "pipeline 'p', stage 'p.counting_connector': with_connector('counting'): unknown "
        "option 'cout'; did you mean 'count'? options of 'counting' connectors: count"
    )
    message = error_of(
        lambda: (
            FlowBuilder()
            .add_pipeline("p")
            .with_core_logic(print)
            .send("listed", pth=str(registered))
        )
    )
    assert "send('listed') got unknown option 'pth' (did you mean 'path'?)" in message
    register_sender("wrong", lambda: ListStorage())
    try:
        message = error_of(
            lambda: FlowBuilder().add_pipeline("p").with_core_logic(print).send("wrong")
        )
        assert "the factory of sender kind 'wrong' returned ListStorage, not a Sender" in message
    finally:
        SENDERS.unregister("wrong")


def test_a_storage_without_retries_of_its_own_is_retried_by_the_stage(registered: Path) -> None:
    builder = FlowBuilder()
    builder.add_pipeline("p").with_core_logic(print).with_storage(
        "kept", path=str(registered / "s"), retries=3, retry_backoff=0.25
    )
    stage = builder.build().pipelines[0].stages[1]
    assert (stage.retry.attempts, stage.storage.options) == (4, {"path": str(registered / "s")})  # type: ignore[union-attr]


# -- the named methods forward every option of their class ---------------------------------------

STAGE_OWN = {"self", "kind", "workers", "maxsize"}
GIVEN_BY_WEIRFLOW = {"self", "pipeline"}


def parameters(function: Callable[..., Any], leave_out: set[str]) -> dict[str, Any]:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if name not in leave_out and parameter.kind is not parameter.VAR_KEYWORD
    }


def test_with_http_connector_has_every_option_of_http_source() -> None:
    method = parameters(PipelineBuilder.with_http_connector, STAGE_OWN)
    source = parameters(HttpSource.__init__, GIVEN_BY_WEIRFLOW)
    assert method == source  # the same names with the same defaults


def test_with_stream_connector_has_every_option_of_stream_source() -> None:
    method = parameters(PipelineBuilder.with_stream_connector, STAGE_OWN)
    given = {"self", "flow_id", "reader", "in_flight", "adapt_in_flight", "least_in_flight"}
    assert set(method) == set(parameters(StreamSource.__init__, given))


def test_with_mqtt_connector_takes_every_option_of_mqtt_source() -> None:
    source = parameters(MqttSource.__init__, GIVEN_BY_WEIRFLOW)
    explicit = parameters(PipelineBuilder.with_mqtt_connector, STAGE_OWN)
    assert explicit == {name: source[name] for name in explicit}  # same defaults
    for name, default in source.items():
        if name in STAGE_OWN:  # maxsize is the stage's (items held ahead of the next stage)
            continue
        value = "c" if name == "client_id" else default
        builder = FlowBuilder()
        builder.add_pipeline("p").with_mqtt_connector(**{name: value}).send(print)
        options = builder.build().pipelines[0].stages[0].source.options  # type: ignore[union-attr]
        assert options[name] == value, name
    with pytest.raises(ConfigError, match="did you mean 'client_id'"):
        FlowBuilder().add_pipeline("p").with_mqtt_connector(client_ids="c")


def test_with_http_connector_passes_what_it_lacked_before() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("p").with_http_connector(
        "http://localhost:8026/form", method="POST", data={"a": "1"}
    ).send(print)
    source = builder.build().pipelines[0].stages[0].source
    assert source is not None
    assert source.options["data"] == {"a": "1"}


# -- no import circle through the registries ------------------------------------------------------


def test_no_import_circle_through_the_registries_or_the_extension_packages() -> None:
    ours = ("weirflow._registry", "weirflow.senders", "weirflow.storages", "weirflow.connectors")
    ours += ("weirflow.flows._builder",)
    involved = [
        sorted(group) for group in circles() if any(member.startswith(ours) for member in group)
    ]
    assert involved == []
