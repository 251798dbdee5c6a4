"""The keeper: one thread per process of a flow with a Redis broker, for what runs in the back.

It sends acknowledgements in batches (``XACK`` of whatever came in while the previous batch
was on its way), trims each stream of what every group acknowledged (``XTRIM MINID``: never an
entry some group has not acknowledged), refreshes the claims of the entries its consumers are
working on (``XCLAIM ... JUSTID``, so a long item is not claimed by another consumer), renews
the leases its pipelines hold and, in the supervisor's process, heartbeats the instance
(``@instance:<id>``, a hash that expires ``lease_seconds`` after the last beat, so a dead
instance vanishes). :meth:`Keeper.stop` flushes, gives leases back, deregisters and joins.
Taking a lease (:func:`take_lease`) is here too, beside its renewal.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from .._threads import make_thread
from ..connectors.redis._client import redis
from ._redis_keys import entry_key, text
from ._streams import StreamClosed

if TYPE_CHECKING:
    from ._redis_broker import RedisBroker
    from ._redis_reader import RedisSubscription

logger = logging.getLogger("weirflow.redis")

TRIM_SECONDS = 0.5
ACK_BATCH = 1000  # fewer acknowledgements waiting than this: gather a moment first
GATHER_SECONDS = 0.01  # a slow pipeline's keeper wakes ~100 times a second, not per entry
STOP_SECONDS = 5.0  # what stop() waits for the last acknowledgements through an outage

_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_LEAVE_GROUP = (  # a consumer leaves its group only when it holds nothing: never lose a claim
    "if #redis.call('xpending', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then "
    "return redis.call('xgroup', 'delconsumer', KEYS[1], ARGV[1], ARGV[2]) else return -1 end"
)
_GIVE_BACK = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)


class Keeper:
    """Acknowledgements, trims, claim refreshes, leases and heartbeats of one process."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self._changed = threading.Condition()
        # Entry ids to acknowledge, and those whose recorded errors can go, per (stream,
        # group): appended by any thread without a lock (a deque's append and popleft are
        # atomic), taken by the keeper. A subscription appends to its group's queue itself.
        self._queues: dict[tuple[str, str], collections.deque[bytes]] = {}
        self._forget: dict[tuple[str, str], collections.deque[bytes]] = {}
        self.sleeping = False  # the keeper waits: the next ack wakes it (read it, then wake())
        self._watched: set[RedisSubscription] = set()
        self._consumers: set[tuple[str, str, str]] = set()  # (key, group, name) used here
        self._held: set[str] = set()
        self._instance = False
        self._stopping = False
        self._trim: set[str] = set()
        self._thread = make_thread(self._run, name="weirflow redis keeper")
        lease = broker.settings.lease_seconds
        self._beat_every = lease / 3
        self._next_beat = 0.0
        self._next_trim = 0.0
        self._next_refresh = 0.0

    def start(self) -> None:
        self._thread.start()

    # -- what others hand in --------------------------------------------------------------

    def queue(self, stream: str, group: str) -> collections.deque[bytes]:
        """The queue of ids to acknowledge in ``group`` of ``stream``: append an id, then call
        :meth:`appended` (what :meth:`ack` does, without a call per entry)."""
        key = (stream, group)
        with self._changed:
            if key not in self._queues:
                self._forget[key] = collections.deque()
                self._queues[key] = collections.deque()  # last: the keeper looks at these
            return self._queues[key]

    def ack(self, stream: str, group: str, entry_id: bytes, forget_error: bool = False) -> None:
        """Acknowledge ``entry_id`` of ``group`` soon (and forget its recorded error)."""
        queue = self.queue(stream, group)
        if forget_error:
            self._forget[(stream, group)].append(entry_id)
        queue.append(entry_id)
        self.appended()

    def appended(self) -> None:
        """Ids were appended to a queue: wake the keeper if it sleeps (no lock otherwise)."""
        if self.sleeping:  # read after the append: see _run for why no wake-up is lost
            self.wake()

    def wake(self) -> None:
        with self._changed:
            self._changed.notify()

    def _waiting_acks(self) -> int:
        return sum(len(queue) for queue in list(self._queues.values()))

    def watch(self, subscription: RedisSubscription) -> None:
        with self._changed:
            self._watched.add(subscription)
            self._consumers.add((subscription.key, subscription.group, subscription.consumer))

    def unwatch(self, subscription: RedisSubscription) -> None:
        with self._changed:
            self._watched.discard(subscription)

    def register_instance(self) -> None:
        with self._changed:
            self._instance = True
            self._next_beat = 0.0
            self._changed.notify()

    def hold(self, pipeline: str) -> None:
        with self._changed:
            self._held.add(pipeline)

    def give_back(self, pipeline: str, ran_once: bool) -> None:
        """Let the lease of ``pipeline`` go (a once pipeline is marked as run first)."""
        with self._changed:
            self._held.discard(pipeline)
        broker, keys = self.broker, self.broker.settings.keys

        def give(client: redis.Redis) -> None:
            if ran_once:
                client.set(keys.once(pipeline), f"{time.time():.6f}", ex=30 * 86_400)
            client.eval(_GIVE_BACK, 1, keys.lease(pipeline), broker.settings.instance)

        with contextlib.suppress(StreamClosed):  # else it expires by itself
            broker.call(give, f"giving back the lease of {pipeline!r}", broker._late_give_up())

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(STOP_SECONDS + 5)

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        deadline: float | None = None
        while True:
            with self._changed:
                # Sleeping is said before looking at the acks: an ack appended after the look
                # sees it and notifies (the lock is free once wait() releases it).
                self.sleeping = True
                while not self._waiting_acks() and not self._stopping and not self._due():
                    self._changed.wait(self._until_due())
                self.sleeping = False
                stopping = self._stopping
            if 0 < self._waiting_acks() < ACK_BATCH and not stopping:
                time.sleep(GATHER_SECONDS)  # let a batch gather: one XACK for many entries
            acks, forget = self._taken()
            if stopping and deadline is None:
                deadline = time.monotonic() + STOP_SECONDS
            try:
                if acks:
                    self._flush(acks, forget, deadline)
                self._periodic(deadline)
            except StreamClosed:
                pass  # stopping, and the server is still away: redelivered later
            except Exception as error:  # a broker that refuses: log, keep the thread
                logger.error("Redis broker keeper: %s", error, exc_info=logger.isEnabledFor(10))
            if stopping:
                self._last(deadline)
                return

    def _taken(
        self,
    ) -> tuple[dict[tuple[str, str], list[bytes]], dict[tuple[str, str], list[bytes]]]:
        """The acknowledgements handed in so far, by stream and group, and the entries whose
        recorded errors can go."""
        with self._changed:
            queues = [(key, queue, self._forget[key]) for key, queue in self._queues.items()]
        acks: dict[tuple[str, str], list[bytes]] = {}
        forget: dict[tuple[str, str], list[bytes]] = {}
        for key, queue, forgotten in queues:
            if forgotten:  # before the acks: a forgotten id is acknowledged in this batch
                take = forgotten.popleft
                forget[key] = [take() for _ in range(len(forgotten))]
            if queue:
                take = queue.popleft
                acks[key] = [take() for _ in range(len(queue))]
        return acks, forget

    def _due(self) -> bool:
        now = time.monotonic()
        return now >= min(self._next_trim if self._trim else now + 3600, self._next_periodic())

    def _next_periodic(self) -> float:
        beat = self._next_beat if (self._instance or self._held) else time.monotonic() + 3600
        refresh = self._next_refresh if self._watched else time.monotonic() + 3600
        return min(beat, refresh)

    def _until_due(self) -> float:
        now = time.monotonic()
        until = min(self._next_trim if self._trim else now + 1, self._next_periodic()) - now
        return max(0.01, min(until, 1.0))

    def _give_up(self, deadline: float | None) -> bool:
        if deadline is not None:
            return time.monotonic() > deadline
        return self._stopping  # a stop during an outage: give up within STOP_SECONDS

    def _flush(
        self,
        acks: dict[tuple[str, str], list[bytes]],
        forget: dict[tuple[str, str], list[bytes]],
        deadline: float | None,
    ) -> None:
        keys = self.broker.settings.keys

        def send(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            for (stream, group), ids in acks.items():
                pipe.xack(keys.stream(stream), group, *ids)
            for (stream, group), ids in forget.items():
                pipe.hdel(keys.errors(stream, group), *ids)
            pipe.execute()

        self.broker.call(send, "acknowledging entries", lambda: self._give_up(deadline))
        self._trim.update(stream for stream, _group in acks)

    def _periodic(self, deadline: float | None) -> None:
        now = time.monotonic()
        give_up = lambda: self._give_up(deadline)  # noqa: E731
        if self._trim and now >= self._next_trim:
            self._next_trim = now + TRIM_SECONDS
            streams, self._trim = set(self._trim), set()
            for stream in streams:
                self.broker.call(
                    functools.partial(trim, self.broker, stream=stream), "trimming", give_up
                )
        if self._watched and now >= self._next_refresh:
            with self._changed:
                watched = list(self._watched)
            every = min(s.options.claim_idle_seconds for s in watched) / 3
            self._next_refresh = now + max(every, 0.02)
            for subscription in watched:
                self.broker.call(
                    functools.partial(refresh, subscription=subscription), "refreshing", give_up
                )
        if (self._instance or self._held) and now >= self._next_beat:
            self._next_beat = now + self._beat_every
            self.broker.call(self._beat, "heartbeating", give_up)

    def _beat(self, client: redis.Redis) -> None:
        settings = self.broker.settings
        keys, milliseconds = settings.keys, int(settings.lease_seconds * 1000)
        pipe = client.pipeline(transaction=False)
        if self._instance:
            key = keys.instance(settings.instance)
            pipe.hset(
                key,
                mapping={
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "pipelines": json.dumps(list(self.broker.pipelines)),
                    "started": f"{settings.started:.3f}",
                    "heartbeat": f"{time.time():.3f}",
                },
            )
            pipe.pexpire(key, milliseconds)
        held = sorted(self._held)
        for pipeline in held:
            pipe.eval(_RENEW, 1, keys.lease(pipeline), settings.instance, milliseconds)
        answers = pipe.execute()
        for pipeline, renewed in zip(held, answers[-len(held) :] if held else []):
            if not renewed:
                logger.error(
                    "pipeline %r: this instance lost its lease (it was away longer than "
                    "lease_seconds=%g); another instance may run it too",
                    pipeline,
                    settings.lease_seconds,
                    extra={"pipeline": pipeline, "stage": None},
                )

    def _last(self, deadline: float | None) -> None:
        """Stopping: what came in meanwhile, leases back, deregister."""
        acks, forget = self._taken()
        with self._changed:
            held, self._held = set(self._held), set()
        broker, keys = self.broker, self.broker.settings.keys
        try:
            if acks:
                self._flush(acks, forget, deadline)
            for stream in self._trim:
                broker.call(
                    functools.partial(trim, broker, stream=stream), "trimming", lambda: True
                )
            for pipeline in held:
                broker.call(
                    functools.partial(
                        _give_back, key=keys.lease(pipeline), me=broker.settings.instance
                    ),
                    "giving back a lease",
                    lambda: True,
                )
            if self._instance:
                broker.call(
                    lambda c: c.delete(keys.instance(broker.settings.instance)),
                    "deregistering",
                    lambda: True,
                )
        except Exception:
            logger.debug("Redis broker keeper: stopping", exc_info=True)
        self._leave_groups()

    def _leave_groups(self) -> None:
        """Take this process's consumers off their groups (``weirflow status`` counts live
        ones), each only if it holds no pending entry: one that does stays, so its entries
        can still be claimed."""
        for key, group, consumer in sorted(self._consumers):
            try:
                self.broker.call(
                    functools.partial(_leave_group, key=key, group=group, consumer=consumer),
                    "leaving a consumer group",
                    lambda: True,
                )
            except Exception:  # the group is gone, the server away: it stays listed
                logger.debug("Redis broker keeper: leaving %s", group, exc_info=True)


def trim(broker: RedisBroker, client: redis.Redis, stream: str) -> None:
    """Drop the entries of ``stream`` that every reading group has acknowledged."""
    key = broker.settings.keys.stream(stream)
    readers = broker.settings.topology.readers.get(stream, ())
    groups = {text(group["name"]): group for group in client.xinfo_groups(key)}
    if not readers or any(reader not in groups for reader in readers):
        return  # a group not made yet holds everything
    pipe = client.pipeline(transaction=False)
    for reader in readers:
        pipe.xpending(key, reader)
    keep: tuple[int, int] | None = None
    for reader, pending in zip(readers, pipe.execute()):
        if pending["pending"]:
            first = entry_key(pending["min"])
        else:
            milliseconds, sequence = entry_key(groups[reader]["last-delivered-id"])
            first = (milliseconds, sequence + 1)
        keep = first if keep is None else min(keep, first)
    if keep is not None and keep > (0, 1):
        client.xtrim(key, minid=f"{keep[0]}-{keep[1]}", approximate=False)


def refresh(client: redis.Redis, subscription: RedisSubscription) -> None:
    """Reset the idle time of the entries ``subscription`` works on (they stay its own)."""
    ids = list(subscription.in_flight)
    for start in range(0, len(ids), 1000):
        client.xclaim(
            subscription.key,
            subscription.group,
            subscription.consumer,
            0,
            list[Any](ids[start : start + 1000]),
            justid=True,
        )


def take_lease(broker: RedisBroker, pipeline: str, stop: threading.Event) -> bool:
    """Wait until this instance holds the lease of ``pipeline`` (False: stopped, or a once
    pipeline that another instance ran while this one waited)."""
    settings, keys = broker.settings, broker.settings.keys
    milliseconds = int(settings.lease_seconds * 1000)
    told = False
    while not stop.is_set():
        try:
            got, holder = broker.call(
                lambda c: _try_lease(c, keys.lease(pipeline), settings.instance, milliseconds),
                f"taking the lease of pipeline {pipeline!r}",
                stop.is_set,
            )
        except StreamClosed:
            return False
        if got:
            break
        if not told:
            logger.info(
                "pipeline %r runs in instance %s; this instance takes over if it stops",
                pipeline,
                holder,
                extra={"pipeline": pipeline, "stage": None},
            )
            told = True
        if stop.wait(settings.lease_seconds / 3):
            return False
    else:
        return False
    if pipeline in settings.once:
        ran = broker.call(
            lambda c: c.get(keys.once(pipeline)), "reading a once marker", stop.is_set
        )
        if ran is not None and float(ran) >= settings.started:
            logger.info(
                "pipeline %r already ran in another instance while this one waited; not run here",
                pipeline,
                extra={"pipeline": pipeline, "stage": None},
            )
            broker.call(
                lambda c: c.eval(_GIVE_BACK, 1, keys.lease(pipeline), settings.instance),
                "giving back a lease",
                stop.is_set,
            )
            return False
    broker.keeper().hold(pipeline)
    if told:
        logger.info(
            "pipeline %r: this instance took the lease over",
            pipeline,
            extra={"pipeline": pipeline, "stage": None},
        )
    return True


def _leave_group(client: redis.Redis, key: str, group: str, consumer: str) -> Any:
    return client.eval(_LEAVE_GROUP, 1, key, group, consumer)


def _give_back(client: redis.Redis, key: str, me: str) -> Any:
    return client.eval(_GIVE_BACK, 1, key, me)


def _try_lease(client: redis.Redis, key: str, me: str, milliseconds: int) -> tuple[bool, str]:
    if client.set(key, me, nx=True, px=milliseconds):
        return True, me
    holder = client.get(key)
    shown = text(holder) if holder is not None else "?"
    return shown == me, shown
