"""Reading a Redis stream as one consumer of a reading pipeline's group.

A :class:`RedisSubscription` yields a :class:`StreamDelivery` per entry, those of one read
together (:class:`~weirflow.flows._tickets.Deliveries`); the pipeline's last
stage acknowledges it (the keeper sends the ``XACK``\\ s in batches) or rejects it with the
failure. It holds at most ``in_flight`` entries unacknowledged (by default about 0.05 s of
the pipeline's work: :class:`~weirflow.flows._read_window.ReadWindow`). It reads, in turn: its own
pending entries once (after a restart of its pipeline in this process), entries idle for
``claim_idle_seconds`` in any consumer (``XAUTOCLAIM``: their consumer died; a live one keeps
refreshing its claims), and new entries (``XREADGROUP ... BLOCK``). An entry tried
``max_deliveries`` times, or one that does not decode, goes to the dead-letter stream with its
original fields plus the error, and is acknowledged (one WARNING line). A failure below the
limit is recorded (the last error of each entry, for its dead letter) and the entry left
pending, so it is tried again. The subscription ends when the stream has ended for its group
(see :meth:`RedisSubscription.ended`), its run is interrupted or the broker closes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .._interfaces import Delivery
from ..connectors.redis._client import redis
from ._read_window import ReadWindow
from ._redis_keys import BLOCK_SECONDS, SEP, entry_key, text
from ._streams import ReadOptions
from ._tickets import Deliveries

if TYPE_CHECKING:
    from ._redis_broker import RedisBroker
    from ._redis_keeper import Keeper

logger = logging.getLogger("weirflow.redis")

ERRORS_KEEP_SECONDS = 7 * 86_400  # the recorded last errors of entries not yet dead


class StreamDelivery(Delivery):
    """A stream entry's item; ``reject(failure)`` says it failed (it stays pending).

    Lean on purpose (one is made per entry): its subscription's ``in_flight`` says whether the
    entry is still to be settled, so a second ``ack`` or ``reject`` does nothing, without a
    lock of its own.
    """

    __slots__ = ("_entry", "_subscription")

    def __init__(self, value: Any, subscription: RedisSubscription, entry_id: bytes) -> None:
        self.value = value
        self._subscription = subscription
        self._entry = entry_id

    def ack(self) -> None:
        """The entry is done with: acknowledge it (idempotent)."""
        self._subscription._acknowledged(self._entry)

    def reject(self, failure: Any) -> None:
        """The pipeline failed on the item (``failure``: an ``ItemFailure`` or ``None``)."""
        self._subscription._rejected(self._entry, failure)


Entry = tuple[bytes, dict[bytes, bytes], int]  # id, fields, deliveries so far


class RedisSubscription:
    """One consumer of ``group`` (a reading pipeline) on ``stream``, for one run."""

    def __init__(
        self,
        broker: RedisBroker,
        stream: str,
        group: str,
        options: ReadOptions,
        interrupts: int,
    ) -> None:
        self.broker = broker
        self.stream = stream
        self.group = group
        self.options = options
        self.key = broker.settings.keys.stream(stream)
        self.consumer = f"{broker.settings.instance}:{os.getpid()}"
        self.in_flight: dict[bytes, dict[bytes, bytes]] = {}
        self._deliveries: dict[bytes, int] = {}
        self._interrupts = interrupts
        self._changed = threading.Condition()
        self._waiting = False  # the reader waits for room: acknowledgements wake it
        self._resume_at = 0  # how few in flight wake the reader: set by _room before it waits
        self._window = ReadWindow(
            options.in_flight, options.adapt_in_flight, time.monotonic(), options.least_in_flight
        )
        self._settled = 0  # entries acknowledged or rejected: how fast the pipeline goes
        self._decode = broker.codec.decode
        self._keeper: Keeper
        self._epoch = broker.epoch

    # -- the read loop --------------------------------------------------------------------

    def entries(self) -> Iterator[Deliveries]:
        keeper = self._keeper = self.broker.keeper()
        self._acks = keeper.queue(self.stream, self.group)
        keeper.watch(self)
        try:
            yield from self._entries()
        finally:
            keeper.unwatch(self)

    def _entries(self) -> Iterator[Deliveries]:
        broker, options = self.broker, self.options
        broker.ensure_group(self.stream, self.group)
        history = True
        claim_every = min(max(options.claim_idle_seconds / 2, 0.05), 5.0)
        next_claim = time.monotonic()
        while not broker.interrupted(self.stream, self.group, self._interrupts):
            room = self._room()
            if room == 0:
                continue
            if broker.epoch != self._epoch:  # an outage ended: is the group still there?
                self._epoch = broker.epoch
                broker.ensure_group(self.stream, self.group, after_outage=True)
            got: list[Entry]
            if history:
                got = self._with_counts(self._read("0", room, None))
                history = bool(got)
            elif time.monotonic() >= next_claim:
                got = self._claim(room)
                next_claim = time.monotonic() + claim_every
                if not got:
                    got = self._read_new(room)
            else:
                got = self._read_new(room)
            if not got and not history:
                if self.ended():
                    return
                continue
            batch = Deliveries(
                [
                    delivery
                    for entry_id, fields, deliveries in got
                    if (delivery := self._delivery(entry_id, fields, deliveries)) is not None
                ]
            )
            if batch:
                yield batch

    def _room(self) -> int:
        """How many more entries may be taken, at least a quarter of the window (so reads
        stay batches), waiting a moment for acknowledgements when there is less."""
        limit = self._window.size(self._settled, time.monotonic())
        with self._changed:
            room = limit - len(self.in_flight)
            if room >= max(1, limit // 4) or room == limit:
                return room
            self._window.full()
            self._resume_at = limit - max(1, limit // 4)
            self._waiting = True
            self._changed.wait(BLOCK_SECONDS)
            self._waiting = False
            return 0

    def _read_new(self, count: int) -> list[Entry]:
        return [(i, f, 1) for i, f in self._read(">", count, int(BLOCK_SECONDS * 1000))]

    def _read(self, start: str, count: int, block: int | None) -> list[tuple[bytes, Any]]:
        command: list[Any] = ["XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", count]
        if block is not None:
            command += ["BLOCK", block]
        command += ["STREAMS", self.key, start]

        def read(client: redis.Redis) -> Any:
            return client.execute_command(*command)  # type: ignore[no-untyped-call]

        try:
            answer = self.broker.call(read, f"reading stream {self.stream!r}")
        except redis.ResponseError:  # NOGROUP: the server lost it
            self.broker.ensure_group(self.stream, self.group, after_outage=True)
            return []
        return read_entries(answer)

    def _claim(self, room: int) -> list[Entry]:
        """Entries idle for ``claim_idle_seconds`` in any consumer of the group."""
        idle = int(self.options.claim_idle_seconds * 1000)

        mine: list[Any] = list(self.in_flight)

        def claim(client: redis.Redis) -> list[tuple[bytes, Any]]:
            for start in range(0, len(mine), 1000):  # not idle: this consumer works on them
                client.xclaim(
                    self.key, self.group, self.consumer, 0, mine[start : start + 1000], justid=True
                )
            found: list[tuple[bytes, Any]] = []
            cursor: Any = "0-0"
            while len(found) < room:
                answer = client.xautoclaim(
                    self.key, self.group, self.consumer, idle, cursor, count=room - len(found)
                )
                found.extend(answer[1])
                cursor = answer[0]
                if cursor in (b"0-0", "0-0"):
                    break
            return found

        try:
            claimed = self.broker.call(claim, f"claiming idle entries of {self.stream!r}")
        except redis.ResponseError:
            return []
        return self._with_counts(claimed)

    def _with_counts(self, entries: list[tuple[bytes, Any]]) -> list[Entry]:
        """The entries with how many times each was delivered (``XPENDING``)."""
        if not entries:
            return []
        ids = sorted((entry_id for entry_id, _ in entries), key=entry_key)

        def pending(client: redis.Redis) -> Any:
            return client.xpending_range(
                self.key,
                self.group,
                min=ids[0],
                max=ids[-1],
                count=len(ids) + len(self.in_flight) + 16,
                consumername=self.consumer,
            )

        counts = {
            row["message_id"]: int(row["times_delivered"])
            for row in self.broker.call(pending, f"reading delivery counts of {self.stream!r}")
        }
        return [(i, fields or {}, counts.get(i, 1)) for i, fields in entries if i in counts]

    def _delivery(
        self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int
    ) -> Delivery | None:
        if entry_id in self.in_flight:
            return None  # claimed back while this consumer still works on it
        if not fields:  # trimmed or deleted while pending: nothing to do
            self._keeper.ack(self.stream, self.group, entry_id)
            return None
        if deliveries > self.options.max_deliveries:
            self._dead(entry_id, fields, deliveries, self._recorded_error(entry_id))
            return None
        try:
            value = self._decode(fields)
        except Exception as error:
            self._dead(
                entry_id, fields, deliveries, f"cannot decode: {type(error).__name__}: {error}"
            )
            return None
        self.in_flight[entry_id] = fields  # one dict operation: no lock needed
        if deliveries > 1:
            self._deliveries[entry_id] = deliveries
        return StreamDelivery(value, self, entry_id)

    # -- outcomes -------------------------------------------------------------------------

    def _acknowledged(self, entry_id: bytes) -> None:
        if self.in_flight.pop(entry_id, None) is None:
            return  # settled already
        self._settled += 1
        self._wake()
        if self._deliveries and self._deliveries.pop(entry_id, 1) > 1:
            self._keeper.ack(self.stream, self.group, entry_id, forget_error=True)
            return
        self._acks.append(entry_id)  # the group's queue: no call into the keeper per entry
        self._keeper.appended()

    def _wake(self) -> None:
        """Wake the reader if it waits for room and there is enough now (see ``_room``)."""
        if self._waiting and len(self.in_flight) <= self._resume_at:
            with self._changed:
                self._changed.notify()

    def _rejected(self, entry_id: bytes, failure: Any) -> None:
        fields = self.in_flight.pop(entry_id, None)
        if fields is None:
            return  # settled already
        self._settled += 1
        deliveries = self._deliveries.pop(entry_id, 1)
        self._wake()
        error = (
            f"{failure.error_type}: {failure.error} (stage {failure.stage})"
            if failure is not None
            else "failed"
        )
        if deliveries >= self.options.max_deliveries:
            self._dead(entry_id, fields, deliveries, error)
            return
        keys = self.broker.settings.keys

        def record(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.hset(keys.errors(self.stream, self.group), entry_id, error)
            pipe.expire(keys.errors(self.stream, self.group), ERRORS_KEEP_SECONDS)
            pipe.execute()

        self.broker.call(record, f"recording a failure in {self.stream!r}", self._give_up())

    def _recorded_error(self, entry_id: bytes) -> str:
        key = self.broker.settings.keys.errors(self.stream, self.group)
        found = self.broker.call(
            lambda client: client.hget(key, entry_id), f"reading errors of {self.stream!r}"
        )
        if found:
            return found.decode(errors="replace") if isinstance(found, bytes) else str(found)
        return "delivered again and again without being acknowledged (its consumers died?)"

    def _dead(
        self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int, error: str
    ) -> None:
        """Move the entry to the dead letters (its fields plus the error) and acknowledge it."""
        keys = self.broker.settings.keys
        record: dict[Any, Any] = {
            **fields,
            b"error": error,
            b"pipeline": self.group,
            b"stream": self.stream,
            b"id": entry_id,
            b"deliveries": deliveries,
        }

        def move(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.xadd(keys.dead(self.stream), record)
            pipe.xack(self.key, self.group, entry_id)
            pipe.hincrby(keys.dead_counts(self.stream), self.group, 1)
            pipe.hdel(keys.errors(self.stream, self.group), entry_id)
            pipe.execute()

        self.broker.call(move, f"dead-lettering an entry of {self.stream!r}", self._give_up())
        logger.warning(
            "pipeline %r: entry %s of stream %r went to the dead letters %r after %d "
            "deliveries: %s",
            self.group,
            entry_id.decode(),
            self.stream,
            keys.dead(self.stream),
            deliveries,
            error.splitlines()[0] if error else error,
            extra={"pipeline": self.group, "stage": None},
        )

    def _give_up(self) -> Callable[[], bool]:
        return self.broker._late_give_up()

    # -- the end --------------------------------------------------------------------------

    def ended(self) -> bool:
        """Whether every writer of the stream finished and the group holds nothing more."""
        if self.in_flight:
            return False
        broker = self.broker
        keys = broker.settings.keys

        def snapshot(client: redis.Redis) -> Any:
            pipe = client.pipeline(transaction=True)
            pipe.hgetall(keys.writers(self.stream))
            pipe.xinfo_groups(self.key)
            pipe.xinfo_stream(self.key)
            return pipe.execute()

        try:
            fields, groups, info = broker.call(snapshot, f"looking at the end of {self.stream!r}")
        except redis.ResponseError:
            return False
        if not self._writers_done(fields):
            return False
        group = next((g for g in groups if text(g["name"]) == self.group), None)
        if group is None or int(group["pending"]) != 0:
            return False
        lag = group.get("lag")
        if lag is None:
            return bool(group["last-delivered-id"] == info["last-generated-id"])
        return int(lag) == 0

    def _writers_done(self, fields: dict[bytes, bytes]) -> bool:
        """Every writing pipeline has a ``done`` field and no live instance running it."""
        names = {name.decode(errors="replace"): value for name, value in fields.items()}
        running: list[tuple[str, str]] = []
        for writer in self.broker.settings.topology.writers.get(self.stream, ()):
            if f"done{SEP}{writer}" not in names:
                return False
            prefix = f"run{SEP}{writer}{SEP}"
            running.extend((name, name[len(prefix) :]) for name in names if name.startswith(prefix))
        if not running:
            return True
        keys = self.broker.settings.keys

        def alive(client: redis.Redis) -> list[int]:
            pipe = client.pipeline(transaction=False)
            for _field, instance in running:
                pipe.exists(keys.instance(instance))
            return list(pipe.execute())

        found = self.broker.call(alive, f"looking at the writers of {self.stream!r}")
        if any(found):
            return False
        stale = [name for name, _instance in running]
        self.broker.call(
            lambda client: client.hdel(keys.writers(self.stream), *stale),
            f"forgetting stopped writers of {self.stream!r}",
        )
        return True


def read_entries(answer: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
    """The entries of one stream in an ``XREADGROUP`` answer as the server sent it (the
    broker's client leaves that command's answers unparsed: see ``RedisBroker.client``).

    ``None`` fields: an entry deleted or trimmed while pending. An entry weirflow wrote has one
    field; its dict is made without a function call.

    Example:
        >>> read_entries([[b"s", [[b"1-0", [b"json", b"1"]], [b"2-0", None]]]])
        [(b'1-0', {b'json': b'1'}), (b'2-0', None)]
        >>> read_entries({b"s": [[b"1-0", [b"a", b"1", b"b", b"2"]]]})  # RESP3
        [(b'1-0', {b'a': b'1', b'b': b'2'})]
        >>> read_entries(None)
        []
    """
    if not answer:
        return []
    entries = next(iter(answer.values())) if isinstance(answer, dict) else answer[0][1]
    return [
        (
            entry_id,
            {fields[0]: fields[1]}
            if fields is not None and len(fields) == 2
            else (None if fields is None else dict(zip(fields[::2], fields[1::2], strict=True))),
        )
        for entry_id, fields in entries
    ]
