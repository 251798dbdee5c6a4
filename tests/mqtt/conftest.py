"""Fixtures of the MQTT tests: the shared Mosquitto, private Mosquitto instances, readers.

Most tests use the Mosquitto at 127.0.0.1:1883 with a topic of their own (a uuid), so they
never see each other's messages. Tests that stop a broker or need TLS start a private
``mosquitto`` on a free port.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from weirflow.connectors.mqtt import MqttSource
from weirflow.senders.mqtt import MqttSender
from weirflow.testing import Mosquitto, free_port, mosquitto_command
from weirflow.testing.pytest_plugin import require_server

HOST = "127.0.0.1"
PORT = 1883


@pytest.fixture
def broker() -> tuple[str, int]:
    """The shared Mosquitto (skipped on a laptop without it, a failure in CI)."""
    require_server("Mosquitto", HOST, PORT)
    return HOST, PORT


@pytest.fixture
def topic() -> str:
    """A topic prefix no other test uses."""
    return f"weirflow-test/{uuid.uuid4().hex}"


Publish = Callable[..., None]


@pytest.fixture
def publish() -> Publish:
    """``publish((host, port), topic, *items, qos=1, **options)`` through a fresh MqttSender."""

    def send(broker: tuple[str, int], topic: str, *items: Any, **options: Any) -> None:
        sender = MqttSender(broker[0], port=broker[1], topic=topic, pipeline="publisher", **options)
        try:
            for item in items:
                sender.send(item)
        finally:
            sender.close()

    return send


def _eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {seconds}s")
        time.sleep(0.01)


@pytest.fixture
def eventually() -> Callable[..., None]:
    """``eventually(condition, seconds=5)``: wait (bounded) for a state no event announces."""
    return _eventually


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Make private brokers: ``mosquitto(settings="...", start=True)``; all stopped at the end."""
    if mosquitto_command() is None:
        pytest.skip("the mosquitto command is needed for this test")
    made: list[Mosquitto] = []

    def make(settings: str = "", *, port: int | None = None, start: bool = True) -> Mosquitto:
        broker = Mosquitto(port or free_port(), settings=settings, directory=tmp_path)
        made.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in made:
        broker.stop()


class Reader:
    """Iterates ``source.read({})`` in a thread; what it yields can be taken with a timeout."""

    def __init__(self, source: MqttSource) -> None:
        self.source = source
        self.items: queue.Queue[Any] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test mqtt reader")
        self.thread.start()

    def _run(self) -> None:
        try:
            for item in self.source.read({}):
                self.items.put(item)
        except BaseException as error:
            self.error = error

    def take(self, count: int, seconds: float = 5.0) -> list[Any]:
        """The next ``count`` items; fail if they do not all come within ``seconds``."""
        deadline = time.monotonic() + seconds
        taken = []
        for _ in range(count):
            try:
                taken.append(self.items.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"got {len(taken)} of {count} items within {seconds}s: {taken!r}; "
                    f"statistics: {self.source.statistics()}"
                ) from None
        return taken

    def poll(self, seconds: float) -> Any:
        """The next item if one comes within ``seconds``, else None."""
        try:
            return self.items.get(timeout=seconds)
        except queue.Empty:
            return None

    def take_until(self, last: Callable[[Any], bool], seconds: float = 5.0) -> list[Any]:
        """Items up to and including the first for which ``last(item)`` holds."""
        taken = []
        deadline = time.monotonic() + seconds
        while True:
            [item] = self.take(1, max(0.0, deadline - time.monotonic()))
            taken.append(item)
            if last(item):
                return taken

    def close(self) -> None:
        self.source.close()
        self.thread.join(5)
        assert not self.thread.is_alive(), "read() did not return after close()"
        if self.error is not None:
            raise self.error


@pytest.fixture
def reading() -> Iterator[Callable[..., Reader]]:
    """``reading(source)``: read a source in a thread once it is subscribed (``subscribed=False``:
    at once); every reader, and its source, is closed at the end."""
    readers: list[Reader] = []

    def start(source: MqttSource, *, subscribed: bool = True) -> Reader:
        if subscribed:
            source.start()
            assert source.wait_subscribed(5), f"no subscription: {source.statistics()}"
        reader = Reader(source)
        readers.append(reader)
        return reader

    yield start
    for reader in readers:
        reader.close()


@dataclass(frozen=True)
class Certificates:
    ca: Path  # signs the server and client certificates
    server_cert: Path  # for 127.0.0.1 only (not "localhost")
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # trusts nothing here


def _openssl(*arguments: str) -> None:
    subprocess.run(["openssl", *arguments], check=True, capture_output=True, timeout=30)


def _key_and_request(directory: Path, name: str, subject: str) -> tuple[Path, Path]:
    key, request = directory / f"{name}-key.pem", directory / f"{name}.csr"
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", subject, "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    return key, request


def _self_signed_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def _signed(directory: Path, name: str, subject: str, san: str, ca: tuple[Path, Path]) -> Path:
    _key, request = _key_and_request(directory, name, subject)
    extensions = directory / f"{name}.ext"
    extensions.write_text(f"subjectAltName={san}\n")
    cert = directory / f"{name}.pem"
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    return cert


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, a server and a client certificate it signed, and an unrelated CA (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory = tmp_path_factory.mktemp("mqtt-tls")
    ca = _self_signed_ca(directory, "test-ca")
    other_ca, _ = _self_signed_ca(directory, "other-ca")
    server = _signed(directory, "server", "/CN=127.0.0.1", "IP:127.0.0.1", ca)
    client = _signed(directory, "client", "/CN=weirflow-client", "DNS:client", ca)
    return Certificates(
        ca[0],
        server,
        directory / "server-key.pem",
        client,
        directory / "client-key.pem",
        other_ca,
    )


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: connecting to it is refused."""
    return free_port()
