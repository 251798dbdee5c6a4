"""The MQTT source's connection as its log lines see it: outages, reconnections, takeovers.

:class:`Health` follows one source's connections (on paho's network thread): an outage is
logged once, with its reason, and "connected again" when it ends (only after a first
connection); repeats while it lasts go to DEBUG. It also tells a shared ``client_id`` from an
outage: the broker disconnects the older of two clients using one id (MQTT 5 "Session taken
over"), or, for brokers that just close the socket (Mosquitto 2.0), closes the connection
:data:`TAKEOVER_LOSSES` times in a row within :data:`TAKEOVER_WINDOW_S` seconds of making it;
:meth:`Health.takeover` then says why the source must give up.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ._client import SESSION_TAKEN_OVER, ReasonCode

logger = logging.getLogger("weirflow.mqtt")

TAKEOVER_WINDOW_S = 5.0
"""A connection the broker closes this soon after it was made counts as taken over ..."""
TAKEOVER_LOSSES = 3
"""... and this many in a row, each reconnection succeeding, mean a shared client_id."""


class Health:
    """The state of one source's connections, for its log lines; ``where`` starts them."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._lock = threading.Lock()
        self._outage = False  # a connection problem was logged and not yet resolved
        self._ever_connected = False
        self._up = False  # the current connection got its CONNACK
        self._connected_at = 0.0
        self._quick_losses = 0  # connections closed by the broker soon after they were made

    def starting(self) -> None:
        """A new client is about to connect."""
        with self._lock:
            self._up = False

    def connected(self) -> None:
        """The broker accepted a connection: log it ("connected again" after an outage)."""
        with self._lock:
            outage, self._outage = self._outage, False
            again, self._ever_connected = self._ever_connected, True
            self._connected_at = time.monotonic()
            self._up = True
        if outage and again:
            logger.warning("%s: connected again", self._where)
        else:
            logger.info("%s: connected", self._where)

    def attempt_failed(self) -> None:
        """Connecting failed: the broker is away (an outage, not a shared client_id)."""
        with self._lock:
            self._quick_losses = 0

    def lost(self) -> bool:
        """The connection ended; whether it had been made (its CONNACK received)."""
        with self._lock:
            was_up, self._up = self._up, False
        return was_up

    def takeover(self, reason_code: ReasonCode, client_id: str | None) -> str | None:
        """Why a connection lost now means another client took ``client_id``, or None."""
        with self._lock:
            quick = time.monotonic() - self._connected_at < TAKEOVER_WINDOW_S
            self._quick_losses = self._quick_losses + 1 if quick else 0
            losses = self._quick_losses
        if client_id is None or (
            reason_code.value != SESSION_TAKEN_OVER and losses < TAKEOVER_LOSSES
        ):
            return None
        why = (
            "the broker disconnected this client because another one connected with the "
            "same client_id (MQTT 'Session taken over')"
            if reason_code.value == SESSION_TAKEN_OVER
            else f"the broker closed the connection {losses} times in a row within seconds "
            "of connecting: another client probably connected with the same client_id (a "
            "broker drops the older connection of a client id)"
        )
        return (
            f"{why}; clients sharing client_id {client_id!r} would take turns for "
            "ever: give each one its own client_id"
        )

    def outage(self, level: int, message: str, *args: Any) -> None:
        """Log a connection problem once; while it lasts, repeats go to DEBUG."""
        with self._lock:
            first, self._outage = not self._outage, True
        logger.log(level if first else logging.DEBUG, message, *args)
