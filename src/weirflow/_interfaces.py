"""The small interfaces a data service is built from: ``Source``, ``Storage``, ``Sender``.

Each has one or two methods plus ``close()``. Users extend weirflow with plain functions first
(``with_core_logic(fn)``, ``with_storage(fn)``, ``send(fn)``) and subclass these only when they
need state. Implementations must be safe to call from several worker threads at once; a storage
must also be safe with several *processes* writing the same target, and ``save`` must only
return once what it saved is durable.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class Source(ABC):
    """Where a pipeline's items come from.

    ``read`` is called once per pipeline run with the parameters the previous stage produced
    (``{}`` when there is none) and yields the run's items. A *continuous* source (a stream, a
    subscription) yields until ``close()`` is called; its pipeline runs once, for as long as the
    flow runs.
    """

    continuous: bool = False

    @abstractmethod
    def read(self, parameters: Mapping[str, Any]) -> Iterable[Any]:
        """Yield the items of one run."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections; make a continuous ``read`` return."""


class Delivery:
    """An item from a source that wants to know when the pipeline is done with it.

    A source with at-least-once delivery (an MQTT subscription with QoS 1, a broker stream) yields
    ``Delivery`` objects instead of bare items. The flow unwraps them, follows every item derived
    from one through the stages, and calls :meth:`ack` once all of them have passed the last
    stage (stored, sent) or were dropped. An item that fails is never acknowledged, so the
    broker delivers it again. ``ack`` is called at most once, from any thread.

    Example:
        >>> acked = []
        >>> delivery = Delivery({"t": 21.5}, lambda: acked.append(True))
        >>> delivery.value, delivery.ack(), delivery.ack(), acked
        ({'t': 21.5}, None, None, [True])
    """

    __slots__ = ("_acknowledge", "_lock", "value")

    def __init__(self, value: Any, acknowledge: Callable[[], None]) -> None:
        self.value = value
        self._acknowledge: Callable[[], None] | None = acknowledge
        self._lock = threading.Lock()

    def ack(self) -> None:
        """Tell the source the item is safely handled (idempotent)."""
        with self._lock:
            acknowledge, self._acknowledge = self._acknowledge, None
        if acknowledge is not None:
            acknowledge()


class Storage(ABC):
    """Where a pipeline keeps its items; other pipelines read them back with ``load``."""

    @abstractmethod
    def save(self, item: Any) -> None:
        """Store one item durably (it survives the process being killed once this returns)."""

    def save_many(self, items: list[Any]) -> None:
        """Store several items; implementations may do it in one transaction."""
        for item in items:
            self.save(item)

    @abstractmethod
    def load(self, **query: Any) -> list[Any]:
        """Everything saved so far (``query`` narrows it where the storage supports it)."""

    def open(self) -> None:  # noqa: B027 - optional
        """Get ready to save: connect, check or create the destination. Optional.

        A flow calls it when a run of the pipeline starts, before its source is read, so the
        first item does not wait for a connection; its error fails the run like a failed save.
        It may be called again (each run): an open storage returns at once. Saving must work
        without it (a storage used directly opens on first use).
        """

    def interrupt(self) -> None:  # noqa: B027 - optional
        """Make calls in progress in other threads give up now (the flow is stopping). Optional.

        A call blocked in a driver (a locked table, a server that stopped answering) raises
        instead of holding the pipeline; nothing of it is reported saved. The storage stays
        usable afterwards. The default does nothing.
        """

    def close(self) -> None:  # noqa: B027 - optional
        """Release files, connections, pools."""


class Sender(ABC):
    """Where a pipeline delivers its items (an HTTP endpoint, a broker, a stream)."""

    @abstractmethod
    def send(self, item: Any) -> None:
        """Deliver one item; raise if it was not accepted (after the sender's own retries)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""
