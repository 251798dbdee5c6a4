"""``/metrics``: Prometheus text from the flow's own registry, read with a real HTTP client and
parsed by prometheus_client's parser; the counts grow while the flow runs."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from weirflow import Flow, FlowBuilder

from .serving import sample, scrape, serving, wait_for

EXPECTED = {
    "weirflow_build_info",
    "weirflow_items",
    "weirflow_stage_seconds",
    "weirflow_stage_workers",
    "weirflow_stage_busy_workers",
    "weirflow_channel_items",
    "weirflow_channel_capacity",
    "weirflow_pipeline_runs",
    "weirflow_pipeline_restarts",
    "weirflow_pipeline_last_success_timestamp_seconds",
    "weirflow_deliveries_in_flight",
    "weirflow_deliveries_acked",
    "weirflow_deliveries_redelivered",
    "weirflow_stream_items",
    "weirflow_stream_capacity",
}
ALLOWED_LABELS = {"pipeline", "stage", "outcome", "stream", "state", "version", "python", "le"}


def streaming_flow(tmp_path: Path, use_threads: bool = True, tag: str = "") -> Flow:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline(f"numbers{tag}", timedelta_seconds=0.05).with_core_logic(
        lambda: iter(range(5))
    ).send("stream", name=f"n{tag}")
    builder.add_pipeline(f"doubled{tag}").with_stream_connector(f"n{tag}").with_core_logic(
        lambda x: None if x % 5 == 4 else 2 * x, workers=2, maxsize=8
    ).with_storage("jsonl", path=str(tmp_path / f"doubled{tag}.jsonl"))
    return builder.build()


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_metrics_are_parsed_by_prometheus_and_grow_while_the_flow_runs(
    tmp_path: Path, use_threads: bool
) -> None:
    flow = streaming_flow(tmp_path, use_threads)
    with serving(flow) as url:
        ok = {"pipeline": "doubled", "stage": "core_logic", "outcome": "ok"}
        first = wait_for(
            lambda: (f := scrape(url)) and sample(f, "weirflow_items_total", **ok) >= 8 and f,
            what="items counted",
        )
        assert set(first) >= EXPECTED, EXPECTED - set(first)
        second = wait_for(
            lambda: (
                (f := scrape(url))
                and sample(f, "weirflow_items_total", **ok)
                > sample(first, "weirflow_items_total", **ok)
                and f
            ),
            what="the count to grow",
        )
    dropped = sample(second, "weirflow_items_total", **{**ok, "outcome": "dropped"})
    assert dropped >= 1  # every fifth number is dropped
    assert sample(second, "weirflow_stage_workers", pipeline="doubled", stage="core_logic") == 2
    assert sample(second, "weirflow_channel_capacity", pipeline="doubled", stage="core_logic") > 0
    assert sample(second, "weirflow_pipeline_runs_total", pipeline="numbers", outcome="ok") >= 1
    assert sample(second, "weirflow_pipeline_last_success_timestamp_seconds", pipeline="numbers")
    assert sample(second, "weirflow_stream_capacity", stream="n") == 1000
    histogram = sample(
        second, "weirflow_stage_seconds_count", pipeline="doubled", stage="core_logic"
    )
    assert histogram == sample(
        second, "weirflow_stage_seconds_bucket", pipeline="doubled", stage="core_logic", le="+Inf"
    )
    assert histogram >= 8
    labels = {key for family in second.values() for s in family.samples for key in s.labels}
    assert labels <= ALLOWED_LABELS


def test_a_relaunched_flow_and_two_flows_in_one_process_each_serve_their_own(
    tmp_path: Path,
) -> None:
    one, two = streaming_flow(tmp_path, tag="1"), streaming_flow(tmp_path, tag="2")
    for _ in range(2):  # the second launch registers its collector again, in a new registry
        with serving(one) as url_one, serving(two) as url_two:
            for url, mine, other in ((url_one, "1", "2"), (url_two, "2", "1")):
                families = wait_for(
                    lambda url=url, mine=mine: (
                        (f := scrape(url))
                        and sample(
                            f,
                            "weirflow_pipeline_runs_total",
                            pipeline=f"numbers{mine}",
                            outcome="ok",
                        )
                        >= 1
                        and f
                    ),
                    what="runs counted",
                )
                pipelines = {
                    s.labels.get("pipeline")
                    for family in families.values()
                    for s in family.samples
                    if "pipeline" in s.labels
                }
                assert pipelines == {f"numbers{mine}", f"doubled{mine}"}, other


def test_an_address_that_is_taken_is_a_config_error_before_the_flow_starts(
    tmp_path: Path,
) -> None:
    from weirflow import ConfigError

    flow = streaming_flow(tmp_path)
    with serving(flow) as url:
        port = url.rsplit(":", 1)[1]
        again = streaming_flow(tmp_path, tag="x")
        with pytest.raises(ConfigError, match="cannot listen on"):
            again.launch_flow(execution_seconds=1, http=f"127.0.0.1:{port}")
        assert again.status().state == "idle"  # nothing ran
    with pytest.raises(ConfigError, match="host:port"):
        flow.launch_flow(execution_seconds=1, http="localhost")


def test_unknown_paths_are_404_and_the_server_is_gone_after_the_flow(tmp_path: Path) -> None:
    flow = streaming_flow(tmp_path)
    with serving(flow) as url:
        assert httpx.get(f"{url}/nothing", timeout=10).status_code == 404
    assert flow.status_url is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/metrics", timeout=2)


def test_an_ipv6_localhost_address_serves_too(tmp_path: Path) -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    flow = streaming_flow(tmp_path)
    thread = __import__("threading").Thread(
        target=flow.launch_flow, kwargs={"execution_seconds": 30, "http": "[::1]:0"}
    )
    thread.start()
    try:
        url = wait_for(lambda: flow.status_url, what="the server")
        assert url.startswith("http://[::1]:")
        assert httpx.get(f"{url}healthz", timeout=10).status_code == 200
    finally:
        flow.stop()
        thread.join(30)


BROKER_ONLY = {"weirflow_stream_lag", "weirflow_stream_pending", "weirflow_stream_dead_letters"}
"""Metrics of brokers that can tell (Redis): the local brokers leave them out."""


def test_the_metrics_reference_lists_each_metric_with_its_type_and_labels(tmp_path: Path) -> None:
    reference = Path(__file__).resolve().parents[2] / "docs" / "reference" / "metrics.md"
    documented = {
        name: (kind, set(re.findall(r"`(\w+)`", labels)))
        for name, kind, labels in re.findall(
            r"^\| `(weirflow_\w+)` \| (\w+) \|([^|]*)\|", reference.read_text(), re.M
        )
    }
    flow = streaming_flow(tmp_path)
    with serving(flow) as url:
        families = wait_for(
            lambda: (f := scrape(url)) and sample(f, "weirflow_stream_capacity", stream="n") and f,
            what="the stream's metrics",
        )
    served = {
        family.name + ("_total" if family.type == "counter" else ""): (
            family.type,
            {label for s in family.samples for label in s.labels} - {"le"},
        )
        for family in families.values()
    }
    assert served == {name: documented[name] for name in served}, "metrics.md says otherwise"
    assert set(documented) - set(served) == BROKER_ONLY
