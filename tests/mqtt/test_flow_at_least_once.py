"""A flow killed with SIGKILL mid-stream loses nothing: MQTT (QoS 1, persistent session) into a
storage, acknowledged only after the save. Messages published while it was down, or in flight
when it died, are stored once it runs again (duplicates allowed, and counted)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from weirflow.senders.mqtt import MqttSender
from weirflow.testing.pytest_plugin import require_server

SRC = str(Path(__file__).resolve().parents[2] / "src")

SERVICE = r"""
import sys
from weirflow import FlowBuilder

def say(line):  # one write per line: stages run in several threads
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def got(message):
    say(f"got {message['id']}")
    return message

def stored(message):
    say(f"stored {message['id']}")

topic, client_id, path = sys.argv[1:4]
builder = FlowBuilder()
builder.add_pipeline("ingest").with_mqtt_connector(
    "127.0.0.1", port=1883, topic=topic, qos=1, client_id=client_id
).with_core_logic(got).with_storage("jsonl", path=path).send(stored)
flow = builder.build()
say("started")
flow.launch_flow()
"""


def start_service(tmp_path: Path, topic: str, client_id: str, path: Path) -> subprocess.Popen[str]:
    script = tmp_path / "service.py"
    script.write_text(textwrap.dedent(SERVICE))
    return subprocess.Popen(
        [sys.executable, str(script), topic, client_id, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )


def stored_ids(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]


def test_sigkill_mid_stream_then_restart_loses_nothing(tmp_path: Path) -> None:
    require_server("Mosquitto", "127.0.0.1", 1883)
    topic = f"weirflow-test/{uuid.uuid4()}"
    client_id = f"weirflow-test-{uuid.uuid4().hex[:12]}"
    path = tmp_path / "stored.jsonl"
    publisher = MqttSender("127.0.0.1", port=1883, topic=topic, qos=1, pipeline="test")
    try:
        service = start_service(tmp_path, topic, client_id, path)
        assert service.stdout is not None
        assert service.stdout.readline().strip() == "started"
        # the session exists once the service has received a first message: until it has
        # subscribed, messages are not kept for it, so say 0 until it answers (bounded)
        for _ in range(100):
            publisher.send({"id": 0})
            ready, _, _ = select.select([service.stdout], [], [], 0.2)
            if ready:
                break
        assert service.stdout.readline().strip() == "got 0"
        for i in range(1, 200):
            publisher.send({"id": i})
        for line in service.stdout:  # kill it somewhere in the middle of the stream
            if line.strip() == "got 50":
                break
        assert service.stdout is not None
        service.send_signal(signal.SIGKILL)
        service.communicate(timeout=30)
        for i in range(200, 300):  # published while it is down
            publisher.send({"id": i})

        service = start_service(tmp_path, topic, client_id, path)
        assert service.stdout is not None
        missing = set(range(300)) - set(stored_ids(path))
        for line in service.stdout:  # until everything not stored before is stored
            word, _, number = line.strip().partition(" ")
            if word == "stored":
                missing.discard(int(number))
                if not missing:
                    break
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=30)
        assert service.returncode == 0, stderr
    finally:
        publisher.close()
    ids = stored_ids(path)
    assert set(ids) == set(range(300))
    duplicates = len(ids) - len(set(ids))
    print(f"stored {len(ids)} rows for 300 messages: {duplicates} duplicates")
