"""weirflow's pytest plugin: registered by the entry point, the ``mqtt_broker`` fixture (a real
private Mosquitto), and skips that turn into failures when ``CI`` is true."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import pytest

import weirflow.testing.pytest_plugin as plugin
from weirflow.testing import Mosquitto, reachable

pytest_plugins = ["pytester"]

HAS_MOSQUITTO = plugin.mosquitto_command() is not None


def test_the_testing_kit_imports_no_test_framework() -> None:
    code = "import sys, weirflow.testing, weirflow.abc; print('pytest' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"


def test_pytest_loads_the_plugin_by_its_entry_point(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.get_plugin("weirflow") is plugin


def _round_trip(host: str, port: int) -> list[Any]:
    from weirflow.connectors.mqtt import MqttSource
    from weirflow.senders.mqtt import MqttSender

    topic = f"plugin/{uuid.uuid4().hex}"
    with MqttSource(host, port=port, topic=topic, qos=1, pipeline="test") as source:
        source.start()
        assert source.wait_subscribed(10)
        with MqttSender(host, port=port, topic=topic, pipeline="test") as sender:
            sender.send({"value": 1})
        for item in source.read({}):
            return [item]
    return []


def test_mqtt_broker_is_a_private_mosquitto(mqtt_broker: Mosquitto) -> None:
    assert mqtt_broker.port != 1883
    assert _round_trip(mqtt_broker.host, mqtt_broker.port) == [{"value": 1}]
    mqtt_broker.stop()
    assert not reachable(mqtt_broker.host, mqtt_broker.port, timeout=0.5)
    mqtt_broker.start()  # back on the same port
    assert _round_trip(mqtt_broker.host, mqtt_broker.port) == [{"value": 1}]


def test_skip_or_fail_skips_on_a_laptop_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no server"):
        plugin.skip_or_fail("no server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI: no server"):
        plugin.skip_or_fail("no server")


_USER_TEST = textwrap.dedent(
    """
    def test_needs_a_broker(mqtt_broker):
        assert mqtt_broker.port > 0
    """
)


@pytest.mark.skipif(not HAS_MOSQUITTO, reason="needs the mosquitto program")
def test_a_users_project_gets_the_fixture_without_an_import(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=_USER_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(("ci", "outcome"), [("", "skipped"), ("true", "errors")])
def test_without_mosquitto_the_fixture_skips_or_fails_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    monkeypatch.setenv("WEIRFLOW_MOSQUITTO", os.path.join(str(pytester.path), "no-mosquitto"))
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(test_user=_USER_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(**{outcome: 1})
    result.stdout.fnmatch_lines(["*the mosquitto program is not installed*"])
