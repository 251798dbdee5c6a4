"""At-least-once delivery: a message is acknowledged only when asked, and redelivered if not.

The broker keeps a persistent session per client id; a message delivered but not acknowledged
when the connection ends (closed, dropped, or the process killed) is sent again on the next
connection with the same client id. Sessions here expire a minute after the test at most.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weirflow import Delivery, FlowBuilder
from weirflow.connectors.mqtt import MqttSource

Start = Callable[..., Any]  # the reading fixture
Publish = Callable[..., None]  # the publish fixture


def durable(broker: tuple[str, int], topic: str, client_id: str, **options: Any) -> MqttSource:
    options.setdefault("session_expiry", 60)
    return MqttSource(
        broker[0],
        port=broker[1],
        topic=topic,
        client_id=client_id,
        at_least_once=True,
        pipeline="durable",
        **options,
    )


def values(items: list[Any]) -> list[Any]:
    assert all(isinstance(item, Delivery) for item in items)
    return [item.value for item in items]


def test_deliveries_are_acknowledged_only_when_asked(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    client_id = f"weirflow-test-{uuid.uuid4().hex}"
    first = reading(durable(broker, topic, client_id))
    publish(broker, topic, *({"n": n} for n in range(4)))
    deliveries = first.take(4)
    assert values(deliveries) == [{"n": n} for n in range(4)]
    deliveries[0].ack()
    deliveries[2].ack()
    deliveries[2].ack()  # idempotent
    assert first.source.statistics()["acked"] == 2
    first.close()  # a clean disconnect: the acknowledgements reach the broker before it

    second = reading(durable(broker, topic, client_id, session_expiry=0))
    publish(broker, topic, {"n": "end"})
    again = second.take_until(lambda item: item.value["n"] == "end")
    assert values(again) == [{"n": 1}, {"n": 3}, {"n": "end"}]
    for delivery in again:
        delivery.ack()


def test_a_bad_payload_is_acknowledged(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    client_id = f"weirflow-test-{uuid.uuid4().hex}"
    dead: list[dict[str, Any]] = []
    first = reading(durable(broker, topic, client_id, dead_letter=dead.append))
    publish(broker, topic, b"<xml/>", {"n": 1})
    [delivery] = first.take(1)
    delivery.ack()
    assert [record["payload"] for record in dead] == ["<xml/>"]
    first.close()

    second = reading(durable(broker, topic, client_id, session_expiry=0))
    publish(broker, topic, {"n": "end"})
    assert values(second.take(1)) == [{"n": "end"}]
    assert second.source.statistics()["bad_payloads"] == 0  # <xml/> was not sent again


def test_a_read_that_ends_early_gets_its_unacknowledged_messages_again(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    """A failed pipeline run closes read(); the next read() reconnects and gets them again."""
    client_id = f"weirflow-test-{uuid.uuid4().hex}"
    source = durable(broker, topic, client_id)
    source.start()
    assert source.wait_subscribed(5)
    publish(broker, topic, {"n": 1}, {"n": 2})
    items = source.read({})
    first = next(iter(items))
    assert isinstance(first, Delivery)
    assert first.value == {"n": 1}
    items.close()  # type: ignore[attr-defined]  # the run failed: n=1 was never acknowledged
    first.ack()  # too late: it belongs to the connection that ended, and is not sent

    reader = reading(source, subscribed=False)
    again = reader.take(2)
    assert values(again) == [{"n": 1}, {"n": 2}]
    assert source.statistics()["connections"] == 2


CHILD = textwrap.dedent(
    """
    import json, sys
    from weirflow.connectors.mqtt import MqttSource

    host, port, topic, client_id, to_ack = sys.argv[1:6]
    to_ack = set(json.loads(to_ack))
    source = MqttSource(
        host, port=int(port), topic=topic, client_id=client_id, at_least_once=True,
        session_expiry=60, pipeline="child",
    )
    source.start()
    if not source.wait_subscribed(10):
        sys.exit("not subscribed")
    print("ready", flush=True)
    for delivery in source.read({}):
        if delivery.value["n"] in to_ack:
            delivery.ack()
        print(json.dumps(delivery.value), flush=True)
    """
)


class Output:
    """Lines a child process prints, read without blocking past a deadline."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.process = process
        self.fd = process.stdout.fileno()
        self.pending = b""

    def lines(self, count: int, seconds: float) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while True:
                while b"\n" in self.pending and len(lines) < count:
                    line, self.pending = self.pending.split(b"\n", 1)
                    lines.append(line.decode().strip())
                if len(lines) == count:
                    return lines
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise AssertionError(f"the child printed {lines!r}, expected {count} lines")
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise AssertionError(f"the child ended (exit {self.process.wait()}): {lines}")
                self.pending += chunk


def test_messages_not_acknowledged_by_a_killed_process_are_delivered_again(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish, tmp_path: Path
) -> None:
    client_id = f"weirflow-test-{uuid.uuid4().hex}"
    script = tmp_path / "subscriber.py"
    script.write_text(CHILD)
    command = [sys.executable, str(script), broker[0], str(broker[1]), topic, client_id, "[0, 2]"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    output = Output(process)
    try:
        assert output.lines(1, 20) == ["ready"]
        publish(broker, topic, *({"n": n} for n in range(4)))
        received = [json.loads(line) for line in output.lines(4, 10)]
        assert received == [{"n": n} for n in range(4)]
    finally:
        process.send_signal(signal.SIGKILL)  # no clean disconnect, nothing flushed
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()

    reader = reading(durable(broker, topic, client_id, session_expiry=0))
    publish(broker, topic, {"n": "end"})
    again = values(reader.take_until(lambda item: item.value["n"] == "end"))
    assert {"n": 1} in again
    assert {"n": 3} in again
    assert again[-1] == {"n": "end"}


def test_a_flow_acknowledges_each_message_once_it_is_sent_on(
    broker: tuple[str, int], topic: str, publish: Publish, eventually: Callable[..., None]
) -> None:
    client_id = f"weirflow-test-{uuid.uuid4().hex}"
    source = durable(broker, topic, client_id, session_expiry=0)
    forwarded: list[Any] = []
    builder = FlowBuilder()
    builder.add_pipeline("ingest").with_source(source).with_core_logic(
        lambda item: {**item, "seen": True}
    ).send(forwarded.append)
    flow = builder.build()
    failures: list[BaseException] = []

    def feed_then_stop() -> None:
        try:
            assert source.wait_subscribed(5)
            for n in range(3):  # one at a time: each is acknowledged before the next comes
                publish(broker, topic, {"n": n})
                eventually(lambda n=n: source.statistics()["acked"] == n + 1)
        except BaseException as error:
            failures.append(error)
        finally:
            source.close()  # the continuous pipeline's run ends, and with it the flow

    helper = threading.Thread(target=feed_then_stop, name="test feeder")
    helper.start()
    started = time.monotonic()
    flow.launch_flow(execution_seconds=20)
    assert time.monotonic() - started < 10
    helper.join(5)
    assert not failures
    assert forwarded == [{"n": n, "seen": True} for n in range(3)]


def test_the_broker_holds_back_while_maxsize_messages_are_unacknowledged(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    """Backpressure: MQTT 5's Receive Maximum is ``maxsize`` in at-least-once mode."""
    client_id = f"weirflow-test-{uuid.uuid4().hex}"
    reader = reading(durable(broker, topic, client_id, maxsize=2, session_expiry=0))
    publish(broker, topic, *({"n": n} for n in range(5)))
    first = reader.take(2)
    assert values(first) == [{"n": 0}, {"n": 1}]
    assert reader.poll(0.3) is None  # two in flight, unacknowledged: the broker waits
    assert reader.source.statistics()["received"] == 2
    first[0].ack()
    assert values(reader.take(1)) == [{"n": 2}]
    first[1].ack()
    later = reader.take(1)
    later[0].ack()
    assert values(later + reader.take(1)) == [{"n": 3}, {"n": 4}]
