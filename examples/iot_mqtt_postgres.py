"""Scenario 5 — IoT: numbers over HTTP and MQTT into PostgreSQL, merged, sorted, published.

* ``http_numbers`` polls an HTTP endpoint every second into the table ``iot_http_numbers``;
* ``mqtt_numbers`` subscribes to ``demo/integers`` (QoS 1, a persistent session: each message is
  acknowledged to the broker only once it is stored) into ``iot_mqtt_numbers``, with an upsert on
  the message id so a redelivered message is not stored twice;
* ``core_logic`` every 2 seconds merges both tables, sorts the numbers, and publishes the sorted
  list to ``demo/sorted`` and the difference of the two sums to ``demo/subtraction``.

It needs the local Mosquitto (127.0.0.1:1883) and PostgreSQL (127.0.0.1:5432, database ``test``;
``WEIRFLOW_DATABASE_URL`` overrides it, e.g. ``sqlite:///data/iot.sqlite``). It starts its own HTTP
endpoint and a publisher of numbers on ``demo/integers``. ``WEIRFLOW_IOT_NAME=NAME`` (default
``iot``) renames what it shares with other runs on the same servers: the tables
``NAME_http_numbers`` and ``NAME_mqtt_numbers``, the topics ``demo/NAME/...`` and the MQTT
client id.

    python examples/iot_mqtt_postgres.py [seconds]
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from typing import Any

from _endpoints import start_endpoints

from weirflow import Flow, FlowBuilder
from weirflow.senders.mqtt import MqttSender

DATABASE = os.environ.get("WEIRFLOW_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
BROKER = "127.0.0.1"
NAME = os.environ.get("WEIRFLOW_IOT_NAME", "iot")
TOPICS = "demo" if NAME == "iot" else f"demo/{NAME}"


def merge_and_sort(db_connectors: Any) -> dict[str, Any] | None:
    http = [row["Generated random number"] for row in db_connectors["http_numbers"].load()]
    mqtt = [row["value"] for row in db_connectors["mqtt_numbers"].load()]
    if not http and not mqtt:
        return None
    return {
        "sorted": sorted(http + mqtt),
        "subtraction": {"http": sum(http), "mqtt": sum(mqtt), "difference": sum(http) - sum(mqtt)},
    }


def build_flow(base_url: str) -> Flow:
    builder = FlowBuilder()
    builder.add_pipeline("http_numbers", timedelta_seconds=1).with_http_connector(
        source=f"{base_url}/integers", headers={"apikey": "custom_key_1234"}
    ).with_storage("sql", url=DATABASE, table=f"{NAME}_http_numbers")
    builder.add_pipeline("mqtt_numbers").with_mqtt_connector(
        BROKER, port=1883, topic=f"{TOPICS}/integers", qos=1, client_id=f"weirflow-{NAME}-demo"
    ).with_storage("sql", url=DATABASE, table=f"{NAME}_mqtt_numbers", upsert_on=["id"])
    builder.add_pipeline("core_logic", timedelta_seconds=2, delay_seconds=1).with_core_logic(
        merge_and_sort
    ).send(
        "mqtt", destination=BROKER, port=1883, topic=f"{TOPICS}/sorted", label_to_send="sorted"
    ).send(
        "mqtt",
        destination=BROKER,
        port=1883,
        topic=f"{TOPICS}/subtraction",
        label_to_send="subtraction",
    )
    return builder.build()


def publish_numbers(stop: threading.Event) -> int:
    """A stand-in for the devices: a number on ``demo/integers`` every 50 ms."""
    sender = MqttSender(BROKER, port=1883, topic=f"{TOPICS}/integers", qos=1, pipeline="devices")
    sent = 0
    try:
        while not stop.wait(0.05):
            sent += 1
            sender.send({"id": f"{uuid.uuid4()}", "value": sent % 97})
    finally:
        sender.close()
    return sent


def main(seconds: float = 5.0) -> dict[str, dict[str, Any]]:
    stop = threading.Event()
    publisher = threading.Thread(target=publish_numbers, args=(stop,), name="devices")
    with start_endpoints() as server:
        flow = build_flow(server.url)
        publisher.start()
        try:
            flow.launch_flow(execution_seconds=seconds)
        finally:
            stop.set()
            publisher.join()
    statistics = flow.statistics()
    for name, stats in statistics.items():
        print(f"{name}: {stats['runs']} runs, {stats['items']} items")
    return statistics


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
