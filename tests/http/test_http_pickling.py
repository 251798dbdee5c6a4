"""HTTP sources and senders made by the user travel to worker processes as their settings."""

from __future__ import annotations

import pickle

import cloudpickle
import httpx
import pytest

from weirflow import FlowBuilder
from weirflow.connectors.http import HttpSender, HttpSource
from weirflow.testing import ListStorage, LocalHTTPServer


def test_http_objects_work_in_a_process_mode_flow() -> None:
    with LocalHTTPServer() as server:
        server.route("GET", "/readings", [1, 2, 3])
        server.route("POST", "/totals", (201, None))
        storage = ListStorage()
        builder = FlowBuilder(use_threads=False)
        builder.add_pipeline("totals").with_source(
            HttpSource(f"{server.url}/readings", verify=True)
        ).with_core_logic(sum).with_storage(storage).send(HttpSender(f"{server.url}/totals"))
        builder.build().launch_flow(execution_seconds=60)
        posted = [
            request.json for request in server.wait_for_requests(2) if request.method == "POST"
        ]
    assert storage.items == [6]
    assert posted == [6]


def test_a_used_sender_pickles_and_the_copy_has_its_own_client() -> None:
    with LocalHTTPServer() as server:
        server.route("POST", "/r", (201, None))
        sender = HttpSender(f"{server.url}/r")
        sender.send({"n": 1})
        copy = pickle.loads(cloudpickle.dumps(sender))
        copy.send({"n": 2})
        sender.close()
        copy.close()
        assert [request.json for request in server.requests] == [{"n": 1}, {"n": 2}]


def test_a_client_of_your_own_cannot_cross_and_says_so() -> None:
    with httpx.Client() as client:
        sender = HttpSender("http://127.0.0.1:1/r", client=client, pipeline="reports")
        with pytest.raises(TypeError, match=r"pipeline 'reports'.*client=\.\.\. cannot be sent"):
            cloudpickle.dumps(sender)
