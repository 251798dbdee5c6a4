"""The extension points of a data service: :class:`Source`, :class:`Storage`, :class:`Sender`.

A pipeline reads items from a source, keeps them in storages and delivers them with senders.
Plain functions come first (``with_core_logic(fn)``, ``with_storage(fn)``, ``send(fn)``);
subclass one of these classes when an extension needs state, a connection, or ``load``. Each
has one method to implement (``read``, ``save_many``, ``send``) plus ``close()``, and is a
context manager whose ``__exit__`` calls ``close()``. :func:`weirflow.testing.check_source`,
:func:`~weirflow.testing.check_storage` and :func:`~weirflow.testing.check_sender` check an
implementation against the guarantees stated here.

**Threads.** One object serves every worker thread of its stage: its methods may be called
from several threads at once, so guard shared state with a lock.

**Processes.** In process mode (``use_threads=False``, ``kind="process"``) the object is
pickled into each worker process and used there; each process closes its own copy. The one
way to make an extension picklable: keep settings as attributes, open connections on first
use (not in ``__init__``), and name in ``_unpicklable`` every attribute that cannot cross (a
connection, a client, a lock). :meth:`Extension.__getstate__` leaves them out; in the copy they
are ``None`` and :meth:`Extension._reset` runs, to remake what must exist from the start (a
lock) — call it from ``__init__`` too. For example::

    class TableStorage(Storage):
        _unpicklable = ("_connection", "_lock")

        def __init__(self, url):
            self.url = url
            self._connection = None  # opened on first use, in each process
            self._reset()

        def _reset(self):
            self._lock = threading.Lock()

        def save_many(self, items):
            with self._lock:
                if self._connection is None:
                    self._connection = connect(self.url)
                self._connection.insert_all(items)

A storage must also be safe with several *processes* writing the same target (file locks,
database transactions).

Example:
    >>> class Doubled(Sender):
    ...     def __init__(self):
    ...         self.sent = []
    ...     def send(self, item):
    ...         self.sent.append(item * 2)
    >>> with Doubled() as sender:
    ...     sender.send(21)
    >>> sender.sent
    [42]
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Self

__all__ = ["Delivery", "Extension", "Sender", "Source", "Storage"]


class Extension(ABC):  # noqa: B024 - a base of the three, with nothing of its own to implement
    """What :class:`Source`, :class:`Storage` and :class:`Sender` share: ``close`` and pickling.

    ``close()`` releases what the object holds (files, connections, pools, threads). It is
    called once per process that used the object, when its flow stops (normally or not) or
    when a ``with`` block ends; it must be idempotent, and must not raise because the object
    was never used. A flow killed by ``SIGKILL`` never calls it: nothing durable may depend on
    it (``save`` and ``send`` are complete when they return).

    Example (the pickling rule; process mode pickles with cloudpickle):
        >>> import pickle, threading, cloudpickle
        >>> class Counting(Sender):
        ...     _unpicklable = ("_lock",)
        ...     def __init__(self):
        ...         self.sent = 0
        ...         self._reset()
        ...     def _reset(self):
        ...         self._lock = threading.Lock()
        ...     def send(self, item):
        ...         with self._lock:
        ...             self.sent += 1
        >>> original = Counting()
        >>> original.send("a")
        >>> copy = pickle.loads(cloudpickle.dumps(original))
        >>> copy.send("b")
        >>> copy.sent, copy._lock is not original._lock
        (2, True)
    """

    _unpicklable: ClassVar[tuple[str, ...]] = ()
    """Attributes left out of the pickle (connections, clients, locks...); ``None`` in a copy."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release what the object holds. Idempotent; the default does nothing."""

    def _reset(self) -> None:  # noqa: B027 - optional
        """Remake per-process state (locks, events) after unpickling; the default does nothing."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in self._unpicklable:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in self._unpicklable:
            self.__dict__.setdefault(name, None)
        self._reset()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Source(Extension):
    """Where a pipeline's items come from.

    ``read`` is called once per pipeline run, from one thread, with the parameters the previous
    stage produced (``{}`` when there is none), and yields the run's items. A run that fails
    may leave the iterator unfinished: the next run calls ``read`` again. A *continuous*
    source (a stream, a subscription: ``continuous = True``) yields until ``close()`` is
    called — from another thread — and its pipeline runs once, for as long as the flow runs;
    ``close()`` must then make ``read`` return promptly.

    A source with at-least-once delivery yields :class:`Delivery` objects, acknowledged once
    the pipeline is done with each item.
    """

    continuous: bool = False

    @abstractmethod
    def read(self, parameters: Mapping[str, Any]) -> Iterable[Any]:
        """Yield the items of one run."""


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


class Storage(Extension):
    """Where a pipeline keeps its items; other pipelines read them back with ``load``.

    Batch first: implement :meth:`save_many` (a stage hands its storage whole batches);
    :meth:`save` calls it with one item. A class written before this rule that implements only
    ``save`` keeps working: its ``save_many`` calls ``save`` for each item.

    Guarantees an implementation gives: when ``save_many`` returns, every item is durable (it
    survives the process being killed); when it raises, the caller may retry the whole batch,
    so saving must tolerate items it kept already (at least once). Where a storage promises
    one transaction per batch (``sql``), a failing batch keeps none of its items.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        save_many = cls.save_many
        if cls.save is Storage.save:  # implements neither yet: save_many is still to write
            if save_many is Storage.save_many:
                cls.save_many = _save_many_to_implement  # type: ignore[method-assign]
        elif save_many is _save_many_to_implement:  # implements save only: loop over it
            cls.save_many = Storage.save_many  # type: ignore[method-assign]

    def save_many(self, items: list[Any]) -> None:
        """Store ``items`` durably, in order: they survive a crash once this returns.

        Called from several threads (and processes) at once when the stage has several
        workers; an empty list may be given and stores nothing. Implement this method; the
        default, for a class that implements only ``save``, calls ``save`` for each item.
        """
        for item in items:
            self.save(item)

    def save(self, item: Any) -> None:
        """Store one item durably; the default calls ``save_many([item])``."""
        self.save_many([item])

    def open(self) -> None:
        """Get ready to save: connect, check or create the destination. Optional.

        A flow calls it when a run of the pipeline starts, before its source is read, so the
        first item does not wait for a connection; its error fails the run like a failed save.
        It may be called again (each run): an open storage returns at once. Saving must work
        without it (a storage used directly opens on first use).
        """

    def interrupt(self) -> None:
        """Make calls in progress in other threads give up now (the flow is stopping). Optional.

        A call blocked in a driver (a locked table, a server that stopped answering) raises
        instead of holding the pipeline; nothing of it is reported saved. The storage stays
        usable afterwards. The default does nothing.
        """

    def load(self, **query: Any) -> Any:
        """What was saved so far, for other pipelines (``db_connectors``) and tests.

        Usually the list of items in the order saved (``query`` narrows it where the storage
        supports it, and is a ``TypeError`` where it does not); a storage that keeps only the
        latest item (``preprocessing="overwrite"``) returns that item, or ``None``. The items
        come back as saved, as far as the format keeps types (each storage says what it
        keeps). The default raises: a storage that only passes items on cannot be read back.

        Raises:
            TypeError: the storage keeps nothing to load, or does not take ``query``.
        """
        raise TypeError(
            f"{type(self).__name__} cannot be loaded: it keeps nothing weirflow can read back; "
            "implement load() to let other pipelines read it"
        )


def _save_many_to_implement(self: Storage, items: list[Any]) -> None:
    """Store ``items`` durably: the one method a :class:`Storage` subclass must implement."""
    raise NotImplementedError


# Marked abstract by hand: a class implementing neither save nor save_many cannot be made.
_save_many_to_implement.__isabstractmethod__ = True  # type: ignore[attr-defined]


class Sender(Extension):
    """Where a pipeline delivers its items (an HTTP endpoint, a broker, a stream).

    ``send`` is called once per item, from several threads at once when the stage has several
    workers. When it returns, the item was accepted by the destination; when it raises (after
    the sender's own retries), the item counts as failed and may be sent again later (at
    least once), so a destination should tolerate duplicates.
    """

    @abstractmethod
    def send(self, item: Any) -> None:
        """Deliver one item; raise if it was not accepted (after the sender's own retries)."""
