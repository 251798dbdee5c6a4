"""``send("airflow_dag_run")`` against a real HTTP server, the request bodies checked with the
official ``apache-airflow-client`` models (Airflow 3's stable API) as the contract."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from weirflow import ConfigError, FlowBuilder, HttpRequestError, PayloadError
from weirflow.connectors.airflow import AirflowDagRunSender
from weirflow.testing import ListSource, LocalHTTPServer, Request, Response, run_once

from ..http.test_tls import _server_context as server_context
from ..http.test_tls import certificates
from .conftest import require

__all__ = ["certificates"]  # the fixture: certificates made with openssl

PASSWORD = "pa55-w0rd-never-logged"
TOKEN = "eyJ-access-token-never-logged"


class FakeAirflowState:
    """What an Airflow API server keeps for these tests: tokens given out, runs triggered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, dict[str, Any]] = {}
        self.tokens = 0
        self.valid = {TOKEN}

    def token(self, request: Request) -> Response:
        if request.json != {"username": "ops", "password": PASSWORD}:
            return Response(401, {"detail": "Invalid credentials"})
        with self.lock:
            self.tokens += 1
        return Response(201, {"access_token": TOKEN})

    def trigger(self, request: Request) -> Response:
        if request.headers.get("authorization") not in {f"Bearer {t}" for t in self.valid}:
            return Response(401, {"detail": "Not authenticated"})
        run_id = request.json["dag_run_id"]
        with self.lock:
            if run_id in self.runs:
                return Response(409, {"detail": f"DAG run {run_id} already exists"})
            self.runs[run_id] = request.json
        return Response(200, {"dag_run_id": run_id, "dag_id": "report", "state": "queued"})


@pytest.fixture
def airflow() -> Iterator[tuple[LocalHTTPServer, FakeAirflowState]]:
    state = FakeAirflowState()
    with LocalHTTPServer() as server:
        server.route("POST", "/auth/token", state.token)
        server.route("POST", "/api/v2/dags/report/dagRuns", state.trigger)
        yield server, state


def contract(body: dict[str, Any]) -> Any:
    """``body`` read by the official client's model: it must take every field, add none."""
    models = require("airflow_client.client.models")
    model = models.TriggerDAGRunPostBody.from_dict(body)
    assert model.additional_properties == {}, f"fields unknown to Airflow: {body}"
    assert model.to_dict() == body  # what the official client would send for the same run
    return model


def days(*names: str) -> list[dict[str, Any]]:
    return [{"day": name, "rows": 3} for name in names]


def test_a_flow_triggers_one_dag_run_per_item(airflow: Any) -> None:
    server, state = airflow
    builder = FlowBuilder()
    builder.add_pipeline("daily").with_source(ListSource(days("mon", "tue"))).send(
        "airflow_dag_run", url=server.url, dag_id="report", auth=("ops", PASSWORD), note="weirflow"
    )
    run_once(builder)
    assert state.tokens == 1
    assert len(state.runs) == 2
    for run_id, body in state.runs.items():
        model = contract(body)
        assert model.dag_run_id == run_id
        assert run_id.startswith("weirflow__")
        assert model.logical_date is None
        assert model.note == "weirflow"
    assert sorted(body["conf"]["day"] for body in state.runs.values()) == ["mon", "tue"]


def test_redelivery_triggers_nothing_new(airflow: Any) -> None:
    server, state = airflow
    sender = AirflowDagRunSender(server.url, "report", auth=("ops", PASSWORD))
    for item in days("mon", "mon", "tue"):
        sender.send(item)
    again = AirflowDagRunSender(server.url, "report", auth=("ops", PASSWORD))
    again.send(days("tue")[0])  # another process or machine derives the same run id
    sender.close()
    again.close()
    assert len(state.runs) == 2
    conflicts = [r for r in server.requests if r.path.endswith("dagRuns")]
    assert len(conflicts) == 4


def test_conf_and_run_id_from_keys_or_functions(airflow: Any) -> None:
    server, state = airflow
    sender = AirflowDagRunSender(
        server.url, "report", auth=TOKEN, conf_from="conf", run_id_from="id"
    )
    sender.send({"id": "day-2030-01-01", "conf": {"rows": 3}, "extra": object()})
    other = AirflowDagRunSender(
        server.url,
        "report",
        auth=TOKEN,
        conf_from=lambda item: {"n": item * 2},
        run_id_from=lambda item: f"n-{item}",
    )
    other.send(21)
    sender.close()
    other.close()
    assert state.tokens == 0  # a given token is used as it is
    assert {k: contract(v).conf for k, v in state.runs.items()} == {
        "day-2030-01-01": {"rows": 3},
        "n-21": {"n": 42},
    }


def test_an_expired_token_is_renewed_once(airflow: Any) -> None:
    server, state = airflow
    sender = AirflowDagRunSender(server.url, "report", auth=("ops", PASSWORD))
    sender.send(days("mon")[0])
    state.valid = set()  # the token expired: 401
    with pytest.raises(HttpRequestError) as refused:
        sender.send(days("tue")[0])
    assert refused.value.status_code == 401
    assert state.tokens == 2  # renewed once, then the 401 stands
    state.valid = {TOKEN}
    sender.send(days("tue")[0])
    sender.close()
    assert len(state.runs) == 2


def test_server_errors_are_retried_and_other_refusals_raised(airflow: Any) -> None:
    server, state = airflow
    server.route("POST", "/api/v2/dags/report/dagRuns", state.trigger, statuses=[503])
    sender = AirflowDagRunSender(server.url, "report", auth=TOKEN, retries=2, backoff=0.01)
    sender.send(days("mon")[0])
    assert len(state.runs) == 1
    missing = AirflowDagRunSender(server.url, "nope", auth=TOKEN, pipeline="daily")
    with pytest.raises(HttpRequestError, match=r"pipeline 'daily'.*404") as refused:
        missing.send(days("mon")[0])
    assert refused.value.status_code == 404
    sender.close()
    missing.close()


def test_credentials_never_reach_logs_errors_or_repr(
    airflow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = airflow

    def echoes(request: Request) -> Response:  # FastAPI's 422 echoes what it was sent
        return Response(422, {"detail": [{"msg": "bad", "input": request.json}]})

    server.route("POST", "/auth/token", echoes)
    caplog.set_level(logging.DEBUG)
    sender = AirflowDagRunSender(server.url, "report", auth=("ops", PASSWORD), pipeline="p")
    with pytest.raises(HttpRequestError) as refused:
        sender.send(days("mon")[0])
    assert "422" in str(refused.value)
    with pytest.raises(ConfigError) as bad:
        AirflowDagRunSender(server.url, "report", auth=("ops", PASSWORD, "x"))  # type: ignore[arg-type]
    shown = [str(refused.value), str(bad.value), repr(sender), caplog.text]
    sender.close()
    token_sender = AirflowDagRunSender(server.url, "report", auth=TOKEN)
    server.route("POST", "/api/v2/dags/report/dagRuns", Response(500, {"detail": TOKEN}))
    with pytest.raises(HttpRequestError) as failed:
        token_sender.send(days("mon")[0])
    token_sender.close()
    shown += [str(failed.value), repr(token_sender), caplog.text]
    for text in shown:
        assert PASSWORD not in text
        assert TOKEN not in text


def test_items_without_what_is_asked_are_payload_errors(airflow: Any) -> None:
    server, _ = airflow
    sender = AirflowDagRunSender(server.url, "report", auth=TOKEN, conf_from="conf")
    with pytest.raises(PayloadError, match="conf_from='conf': the item has no key 'conf'"):
        sender.send({"day": "mon"})
    with pytest.raises(PayloadError, match="conf_from must give a dict"):
        sender.send({"conf": [1, 2]})
    with pytest.raises(PayloadError, match="cannot send dict as JSON \\(Object of type set"):
        AirflowDagRunSender(server.url, "report", auth=TOKEN).send({"x": {1}})
    sender.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "http://h"}, "needs url='https://airflow-host' and dag_id="),
        ({"url": "ftp://h", "dag_id": "d"}, "url"),
        ({"url": "http://h", "dagid": "d"}, "did you mean 'dag_id'"),
        ({"url": "http://h", "dag_id": "d", "auth": ("u",)}, "give \\(username, password\\)"),
        ({"url": "http://h", "dag_id": "d", "conf_from": 3}, "conf_from takes a key"),
        ({"url": "http://h", "dag_id": "d", "timeout": float("inf")}, "timeout"),
        ({"url": "http://h", "dag_id": "d", "verify": "/no/such/ca.pem"}, "verify"),
    ],
)
def test_mistakes_are_config_errors_at_build_time(options: dict[str, Any], message: str) -> None:
    builder = FlowBuilder()
    with pytest.raises(ConfigError, match=message):
        builder.add_pipeline("p").with_source(ListSource([1])).send("airflow_dag_run", **options)


def test_tls_options_reach_the_connection(certificates: Any) -> None:
    """A real TLS handshake: the server's CA bundle as ``verify``, or a refusal without it."""
    context = server_context(certificates, client_auth=False)
    state = FakeAirflowState()
    with LocalHTTPServer(ssl_context=context) as server:
        server.route("POST", "/auth/token", state.token)
        server.route("POST", "/api/v2/dags/report/dagRuns", state.trigger)
        trusting = AirflowDagRunSender(
            server.url, "report", auth=("ops", PASSWORD), verify=str(certificates.server_cert)
        )
        trusting.send(days("mon")[0])
        distrusting = AirflowDagRunSender(server.url, "report", auth=("ops", PASSWORD))
        with pytest.raises(HttpRequestError, match="certificate"):
            distrusting.send(days("tue")[0])
        trusting.close()
        distrusting.close()
    assert len(state.runs) == 1


def test_weirflow_check_shows_what_the_triggers_talk_to() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("a").with_source(ListSource([1])).send(
        "airflow_dag_run", url="https://airflow.example.com", dag_id="report", auth=("u", PASSWORD)
    )
    builder.add_pipeline("p").with_source(ListSource([1])).send(
        "prefect_deployment", name="flow/daily", api_url="http://127.0.0.1:4200/api", api_key=TOKEN
    )
    shown = builder.build().describe()
    assert "-> https://airflow.example.com, dag_id 'report'" in shown
    assert "-> http://127.0.0.1:4200/api, name 'flow/daily'" in shown
    assert PASSWORD not in shown
    assert TOKEN not in shown
