"""Acknowledgements and dead letters of the MQTT source: what happens to a message once read.

:class:`Acknowledgements` knows which connection a delivery came on (its *generation*): after a
reconnection the broker resends what was not acknowledged and may reuse the packet id of a
message for a new one, so acknowledging a delivery of an earlier connection could confirm a
message nobody has stored; it is skipped (the resent copy gets its own acknowledgement). A
payload that does not decode goes to ``dead_letter(record)`` if given, else it is logged and
counted; in at-least-once mode it is acknowledged once recorded (it would never decode). The
network thread calls all of this: keep ``dead_letter`` quick. :func:`at_least_once_mode` decides
whether a source acknowledges by hand (QoS 1, a fixed ``client_id``, a persistent session).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..._checks import Where
from ..._errors import InvalidArgumentError
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


def at_least_once_mode(
    given: bool | None, qos: int, client_id: str | None, clean_start: bool | None, where: Where
) -> bool:
    """Whether the source delivers at least once: as ``given``, checked, or by default when
    ``qos == 1`` and a ``client_id`` is given (and ``clean_start`` is not True)."""
    if given is None:
        return qos == 1 and client_id is not None and not clean_start
    if given:
        if qos != 1:
            raise InvalidArgumentError(
                f"{where.field('at_least_once')}: at-least-once delivery needs qos=1 (got "
                f"qos={qos}): with QoS 0 the broker never redelivers, and with QoS 2 "
                "the client confirms receipt before the message is handed over"
            )
        if client_id is None:
            raise InvalidArgumentError(
                f"{where.field('client_id')}: at-least-once delivery needs a fixed "
                "client_id, so that the broker keeps the session (and the messages not yet "
                "acknowledged) for the next connection; add client_id='my-service'"
            )
        if clean_start:
            raise InvalidArgumentError(
                f"{where.field('clean_start')}: clean_start=True discards the messages not "
                "yet acknowledged on every connection, which at-least-once delivery relies "
                "on; leave clean_start unset"
            )
    return given
