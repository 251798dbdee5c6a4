"""At least once: messages published while the service is down are stored when it is back.

With ``qos=1`` and a fixed ``client_id`` the broker keeps a persistent session for the
subscription, and weirflow acknowledges each message only once what came of it is stored (and
sent): a service that is stopped, or killed, loses nothing. A message may come twice (it was
stored, then the service died before the acknowledgement), so the table upserts on the message's
id. Needs the MQTT broker on 127.0.0.1:1883.

    python at_least_once.py
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable
from typing import Any

from weirflow import Flow, FlowBuilder
from weirflow.senders.mqtt import MqttSender

# --8<-- [start:flow]
BROKER = "127.0.0.1"
DATABASE = "sqlite:///data/at_least_once/readings.sqlite"  # or postgresql+psycopg://...


def build_flow(topic: str, client_id: str) -> Flow:
    builder = FlowBuilder()
    (
        builder.add_pipeline("readings", on_failure="restart")
        .with_mqtt_connector(
            BROKER,
            topic=topic,
            qos=1,  # each message acknowledged by weirflow, once the storage committed it
            client_id=client_id,  # a fixed id: the broker keeps our session while we are away
            session_expiry=3600,  # ...for an hour (None: for ever)
        )
        .with_storage("sql", url=DATABASE, table="readings", upsert_on=["id"])  # once per id
    )
    return builder.build()


# --8<-- [end:flow]


def run_until(flow: Flow, done: Callable[[], bool], deadline: float = 30.0) -> None:
    """Run ``flow`` until ``done()`` (asked every 50 ms), at most ``deadline`` seconds."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(0.05):
            if done():
                flow.stop()
                return

    watcher = threading.Thread(target=watch, name="watch")
    watcher.start()
    try:
        flow.launch_flow(execution_seconds=deadline)
    finally:
        finished.set()
        watcher.join()


def stored(flow: Flow) -> list[Any]:
    return [row["id"] for row in flow.storage("readings").load()]


def main() -> None:
    shutil.rmtree("data/at_least_once", ignore_errors=True)
    topic, client_id = f"docs/{uuid.uuid4().hex}", f"docs-{uuid.uuid4().hex[:12]}"
    sender = MqttSender(BROKER, topic=topic, qos=1, pipeline="devices")
    try:
        flow = build_flow(topic, client_id)

        # First start: the broker learns the session; a first message proves we subscribed.
        def hello_stored() -> bool:
            sender.send({"id": 0, "value": 0})  # sent again until one arrives: upserted
            return bool(stored(flow))

        run_until(flow, hello_stored)
        # The service is down: these ten wait in the broker, in our session.
        for number in range(1, 11):
            sender.send({"id": number, "value": number * 10})
        # Back up: everything published meanwhile arrives, once each in the table.
        flow = build_flow(topic, client_id)
        run_until(flow, lambda: len(stored(flow)) >= 11)
    finally:
        sender.close()
    ids = sorted(stored(flow))
    print(f"stored ids {ids}")
    assert ids == list(range(11))


if __name__ == "__main__":
    main()
