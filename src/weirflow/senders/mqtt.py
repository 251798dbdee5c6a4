"""The MQTT sender's public name under ``weirflow.senders``: :class:`MqttSender` lives in
:mod:`weirflow.connectors.mqtt` (with the MQTT connector); ``send("mqtt")`` makes one."""

from __future__ import annotations

from ..connectors.mqtt import MqttSender as MqttSender

__all__ = ["MqttSender"]
