"""weirflow's pytest plugin: the ``mqtt_broker`` fixture and :func:`require_server`.

Installing weirflow registers this module with pytest (the ``pytest11`` entry point ``weirflow``),
so its fixtures are available in every test without an import. It is the only module of
:mod:`weirflow.testing` that imports pytest; nothing else in weirflow imports it.

- ``mqtt_broker``: a private Mosquitto on a free port for one test, stopped afterwards. When the
  ``mosquitto`` program is not installed, the test is skipped with that reason — or fails when
  the ``CI`` environment variable is true, where a missing program means a broken set-up.
- :func:`require_server`: skip (in CI, fail) the calling test unless a server answers.

Example (a test file of your service)::

    def test_readings_are_published(mqtt_broker):
        sender = MqttSender(mqtt_broker.host, port=mqtt_broker.port, topic="t", pipeline="p")
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from ._servers import Mosquitto, mosquitto_command, reachable

__all__ = ["in_ci", "mqtt_broker", "require_server", "skip_or_fail"]


def in_ci() -> bool:
    """Whether the ``CI`` environment variable says the tests run in continuous integration.

    Example:
        >>> import os
        >>> in_ci() == (os.environ.get("CI", "").lower() in ("1", "true", "yes"))
        True
    """
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the calling test with ``reason``; in CI, fail it instead (a broken set-up)."""
    if in_ci():
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


def require_server(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) the calling test unless ``name`` answers at ``host:port``."""
    if not reachable(host, port):
        skip_or_fail(
            f"{name} is not reachable at {host}:{port}; start it (see .ci/run for the commands)"
        )


@pytest.fixture
def mqtt_broker() -> Iterator[Mosquitto]:
    """A private Mosquitto for this test, on ``mqtt_broker.host:mqtt_broker.port``.

    It is stopped (and its files removed) after the test; ``mqtt_broker.stop()`` and
    ``mqtt_broker.start()`` let a test take it away and bring it back on the same port.
    """
    if mosquitto_command() is None:
        skip_or_fail(
            "the mosquitto program is not installed (apt install mosquitto, or set "
            "WEIRFLOW_MOSQUITTO to its path)"
        )
    broker = Mosquitto()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
