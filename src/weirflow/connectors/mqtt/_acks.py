"""Acknowledgements and dead letters of the MQTT source: what happens to a message once read.

:class:`Acknowledgements` knows which connection a delivery came on (its *generation*): after a
reconnection the broker resends what was not acknowledged and may reuse the packet id of a
message for a new one, so acknowledging a delivery of an earlier connection could confirm a
message nobody has stored; it is skipped (the resent copy gets its own acknowledgement). A
payload that does not decode goes to ``dead_letter(record)`` if given, else it is logged and
counted; in at-least-once mode it is acknowledged once recorded (it would never decode). The
network thread calls all of this: keep ``dead_letter`` quick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..._interfaces import Delivery
from ._client import mqtt
from ._decode import dead_letter_record, expected, topic_of

logger = logging.getLogger("weirflow.mqtt")


class Acknowledgements:
    """The current connection's generation, acknowledgements and dead letters, with counts.

    ``where`` starts log lines; ``manual`` says whether messages are acknowledged by hand (at
    least once), ``dead_letter`` takes the record of each payload that does not decode.
    """

    def __init__(
        self,
        where: str,
        pipeline: str,
        decode: str,
        dead_letter: Callable[[dict[str, Any]], None] | None,
        manual: bool,
    ) -> None:
        self._where = where
        self._pipeline = pipeline
        self._decode = decode
        self._dead_letter = dead_letter
        self._manual = manual
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._generation = 0
        self._counts = dict.fromkeys(("bad_payloads", "dead_lettered", "acked"), 0)

    @property
    def generation(self) -> int:
        """Which connection deliveries made now belong to."""
        return self._generation

    def renew(self, client: mqtt.Client | None) -> None:
        """A new connection (``client``), or none: acknowledgements of earlier deliveries are
        void from now on."""
        with self._lock:
            self._client = client
            self._generation += 1

    def counts(self) -> dict[str, int]:
        """``bad_payloads``, ``dead_lettered`` and ``acked`` so far."""
        with self._lock:
            return dict(self._counts)

    def delivery(
        self, client: mqtt.Client, message: mqtt.MQTTMessage, item: Any, generation: int
    ) -> Any:
        """``item`` as the source yields it: a :class:`Delivery` to acknowledge when manual."""
        if not self._manual:
            return item
        mid, qos = message.mid, message.qos

        def acknowledge() -> None:
            self.ack(client, mid, qos, generation)

        return Delivery(item, acknowledge)

    def ack(self, client: mqtt.Client, mid: int, qos: int, generation: int) -> None:
        """Acknowledge a message, unless it came on an earlier connection (see above)."""
        if qos == 0:
            return
        with self._lock:
            current = client is self._client and generation == self._generation
            if current:
                self._counts["acked"] += 1
        if current:
            client.ack(mid, qos)
        else:
            logger.debug(
                "%s: acknowledgement of message %d skipped (older connection)", self._where, mid
            )

    def bad_payload(
        self, client: mqtt.Client, message: mqtt.MQTTMessage, error: BaseException, generation: int
    ) -> None:
        """A payload that does not decode: dead-lettered (or logged), then acknowledged."""
        topic = topic_of(message)
        with self._lock:
            self._counts["bad_payloads"] += 1
            bad = self._counts["bad_payloads"]
        reason = f"{type(error).__name__}: {error}"
        if self._dead_letter is None:
            logger.warning(
                "%s: a message on topic %r is not %s (%s); skipped (bad_payloads: %d)",
                self._where,
                topic,
                expected(self._decode),
                reason,
                bad,
            )
        else:
            try:
                self._dead_letter(dead_letter_record(message, reason, self._pipeline))
            except Exception:
                logger.exception(
                    "%s: dead_letter failed for a bad payload on topic %r; the message is left "
                    "unacknowledged",
                    self._where,
                    topic,
                )
                return
            with self._lock:
                self._counts["dead_lettered"] += 1
        if self._manual:  # it will never decode: do not have it sent again
            self.ack(client, message.mid, message.qos, generation)
