"""The public import paths of moved code keep working: each old name is the new object."""

from __future__ import annotations

import importlib

import pytest

MOVED = [
    ("weirflow.connectors.mqtt", "MqttSource", "weirflow.connectors.mqtt._source"),
    ("weirflow.connectors.mqtt", "MqttSender", "weirflow.connectors.mqtt._sender"),
    ("weirflow.connectors.mqtt", "MqttOptions", "weirflow.connectors.mqtt._options"),
    ("weirflow.connectors.mqtt", "MqttError", "weirflow"),
    ("weirflow.connectors.mqtt", "DECODES", "weirflow.connectors.mqtt._decode"),
    ("weirflow.connectors.mqtt", "tls_context", "weirflow.connectors.mqtt._options"),
    ("weirflow.senders.mqtt", "MqttSender", "weirflow.connectors.mqtt._sender"),
    ("weirflow.storages.sql", "SqlStorage", "weirflow.storages.sql"),
    ("weirflow.storages.sql", "SqlStorageStatistics", "weirflow.storages.sql"),
    ("weirflow.storages.sql", "DatabaseUnavailableError", "weirflow"),
    ("weirflow.storages", "DatabaseUnavailableError", "weirflow"),
    ("weirflow.connectors.http", "Site", "weirflow.connectors.http._options"),
    ("weirflow.connectors.http._options", "retry_policy", "weirflow._retry"),
    ("weirflow.connectors.http._options", "check_seconds", "weirflow._checks"),
    ("weirflow.flows._validate", "check_seconds", "weirflow._checks"),
    ("weirflow.flows._validate", "check_whole", "weirflow._checks"),
    ("weirflow.flows._validate", "check_flag", "weirflow._checks"),
]


@pytest.mark.parametrize(("module", "name", "home"), MOVED)
def test_an_old_import_path_gives_the_moved_object(module: str, name: str, home: str) -> None:
    found = getattr(importlib.import_module(module), name)
    assert found is getattr(importlib.import_module(home), name)


def test_the_private_mqtt_plumbing_module_is_gone() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("weirflow._mqtt")
