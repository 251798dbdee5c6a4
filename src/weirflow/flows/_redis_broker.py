"""The Redis broker: a flow's streams as Redis Streams, so its pipelines run on many machines.

One more :class:`~weirflow.flows._streams.Broker`. Keys start with the flow's name
(:class:`Keys`), so many services share one Redis. Writers ``XADD`` whole batches in one
pipelined round trip and wait while the slowest reading group's backlog (lag + pending) is over
the stream's ``maxsize`` (10,000 by default). Each reading pipeline is a consumer group (made
from id 0 with ``MKSTREAM`` by whichever side starts first); reading, claiming and dead letters
are the subscription's (``_redis_reader.py``); acknowledgements, trimming, claim refreshes,
heartbeats and lease renewals are the keeper's (``_redis_keeper.py``).

A stream ends for a reader once every pipeline writing it has finished (fields of the stream's
``@writers`` hash: ``run`` per running instance, ``done`` once one finished) and its group has
nothing pending or unread. Scheduled and once pipelines hold a lease (``@lease:<pipeline>``)
while they run, renewed at a third of ``lease_seconds``; another instance takes over when it
expires. Every call waits out an outage (reconnecting with backoff, one WARNING per outage and
an INFO line once it is over); afterwards the groups are made again if the server lost them,
with an ERROR saying what may have been lost. A refused login or certificate is a
:class:`~weirflow.BrokerError` at once. The broker pickles as its settings: a pipeline process
connects on its own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import BrokerError
from ..connectors.redis import Codec, RedisOptions, is_outage, make_client, reason
from ..connectors.redis._client import permanent, redis
from ._redis_keeper import Keeper, take_lease
from ._redis_keys import BATCH, BLOCK_SECONDS, SEP, BrokerSettings, Keys, new_instance_id, text
from ._redis_reader import RedisSubscription
from ._streams import Broker, ReadOptions, StreamClosed, StreamSource, StreamStatistics

if TYPE_CHECKING:
    from ._flow import Flow
    from ._stream_status import FlowStatus

logger = logging.getLogger("weirflow.redis")

T = TypeVar("T")

# One batch of entries in one command: the server adds them in a loop (atomically, so a batch
# is in the stream whole or not at all), where a pipeline of XADDs costs the client a command
# packed and an answer parsed per entry.
_XADD_ALL = (
    "for i = 2, #ARGV do redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[i]) end return #ARGV - 1"
)


class RedisBroker(Broker):
    """Streams of one flow in Redis (see the module's docstring)."""

    at_least_once = True

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self._setup()

    @classmethod
    def for_flow(cls, flow: Flow) -> RedisBroker:
        """The broker of ``flow``'s launch (``flow.distribution.broker`` is its URL)."""
        distribution = flow.distribution
        assert distribution.broker is not None
        singletons = frozenset(p.name for p in flow.pipelines if not reads_stream(p))
        once = frozenset(
            p.name for p in flow.pipelines if p.name in singletons and not p.schedule.repeats
        )
        return cls(
            BrokerSettings(
                RedisOptions.from_url(distribution.broker),
                Keys(distribution.name),
                flow.topology,
                new_instance_id(),
                time.time(),
                distribution.serializer,
                distribution.lease_seconds,
                singletons,
                once,
            )
        )

    def _setup(self) -> None:
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._interrupts: dict[tuple[str, str], int] = {}
        self._codec = Codec(self.settings.serializer)
        self._budgets: dict[str, int] = {}
        self._writing: set[tuple[str, str]] = set()  # (stream, pipeline) registered here
        self._grouped: dict[str, int] = {}  # stream -> outage epoch its groups were made in
        self._outage = False
        self.epoch = 0  # outages survived: groups are checked again after each
        self._keeper: Keeper | None = None
        self._script: str | None = None  # the SHA of _XADD_ALL
        self.pipelines: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.settings = state["settings"]
        self._setup()

    # -- connection -----------------------------------------------------------------------

    def client(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                client = make_client(self.settings.options, BLOCK_SECONDS)
                # The reader parses XREADGROUP answers itself, faster than redis-py's
                # dict per entry (see read_entries); it is the only caller of the command.
                client.set_response_callback("XREADGROUP", _unparsed)
                self._client = client
            return self._client

    def call(
        self,
        function: Callable[[redis.Redis], T],
        what: str,
        give_up: Callable[[], bool] | None = None,
    ) -> T:
        """``function(client)``, waiting out outages until ``give_up()`` (default: closed).

        Raises:
            StreamClosed: the broker closed (or ``give_up()``) during an outage.
            BrokerError: an error that retrying cannot mend.
        """
        give_up = give_up or self._closed.is_set
        delay = self.settings.options.backoff
        while True:
            try:
                result = function(self.client())
            except redis.ResponseError as error:
                if is_outage(error):
                    self._outage_began(what, error)
                elif str(error).startswith("NOGROUP"):
                    raise
                else:
                    raise permanent(error, self.settings.options, None) from error
            except Exception as error:
                if not is_outage(error):
                    raise permanent(error, self.settings.options, None) from error
                self._outage_began(what, error)
            else:
                if self._outage:
                    self._outage_ended()
                return result
            if give_up():
                raise StreamClosed(what)
            if self._closed.is_set():
                time.sleep(delay)  # stopping: a last few tries through the outage
            else:
                self._closed.wait(delay)
            delay = min(delay * 2, self.settings.options.backoff_cap)

    def _outage_began(self, what: str, error: BaseException) -> None:
        with self._lock:
            first, self._outage = not self._outage, True
        if first:
            logger.warning(
                "Redis broker %s unreachable while %s (%s); reconnecting with backoff",
                self.settings.options.shown,
                what,
                reason(error),
            )
            logger.debug("the outage's error", exc_info=error)

    def _outage_ended(self) -> None:
        with self._lock:
            was, self._outage = self._outage, False
            if was:
                self.epoch += 1
        if was:
            logger.info("Redis broker %s reachable again", self.settings.options.shown)

    # -- groups ---------------------------------------------------------------------------

    def ensure_group(self, stream: str, group: str, after_outage: bool = False) -> None:
        """Make ``group`` of ``stream`` from its beginning unless it exists; one found missing
        after an outage (a server restarted without persistence) is logged as a loss."""
        key = self.settings.keys.stream(stream)

        def create(client: redis.Redis) -> bool:
            try:
                client.xgroup_create(key, group, "0", mkstream=True)
            except redis.ResponseError as error:
                if "BUSYGROUP" in str(error):
                    return False
                raise
            return True

        if self.call(create, f"making the group of pipeline {group!r}") and after_outage:
            logger.error(
                "Redis broker %s: stream %r had lost the group of pipeline %r (the server "
                "restarted without persistence?); it is made again, but entries that were not "
                "acknowledged before may be lost",
                self.settings.options.shown,
                stream,
                group,
            )

    def _ensure_groups(self, stream: str) -> None:
        epoch = self._grouped.get(stream)
        if epoch == self.epoch:
            return
        for reader in self.settings.topology.readers.get(stream, ()):
            self.ensure_group(stream, reader, after_outage=epoch is not None)
        self._grouped[stream] = self.epoch

    # -- writing --------------------------------------------------------------------------

    def publish(self, stream: str, item: Any) -> None:
        self.publish_many(stream, [item])

    def publish_many(self, stream: str, items: Sequence[Any]) -> None:
        """XADD ``items`` in pipelined batches; an item without a JSON form raises TypeError."""
        encode = self._codec.encode
        encoded = [encode(item)[1] for item in items]  # nothing sent if one fails
        field = self._codec.serializer
        self._ensure_groups(stream)
        key = self.settings.keys.stream(stream)
        for start in range(0, len(encoded), BATCH):
            chunk = encoded[start : start + BATCH]
            self._wait_for_room(stream, len(chunk))

            def write(client: redis.Redis, chunk: list[bytes] = chunk) -> None:
                try:
                    client.evalsha(self._add_script(client), 1, key, field, *chunk)
                except redis.exceptions.NoScriptError:  # the server restarted since
                    self._script = None
                    client.evalsha(self._add_script(client), 1, key, field, *chunk)

            self.call(write, f"publishing to stream {stream!r}")

    def _add_script(self, client: redis.Redis) -> str:
        """The SHA of :data:`_XADD_ALL`, loaded on the server once (and again after a restart
        that forgot it)."""
        sha = self._script
        if sha is None:
            sha = self._script = client.script_load(_XADD_ALL)
        return sha

    def _wait_for_room(self, stream: str, count: int) -> None:
        """Wait while the slowest reading group's backlog is at the stream's maxsize."""
        budget = self._budgets.get(stream, 0)
        if budget >= count:
            self._budgets[stream] = budget - count
            return
        delay = 0.002
        while True:
            backlog = self.call(
                lambda client: self.backlog(client, stream), f"waiting for room in {stream!r}"
            )
            room = self.settings.maxsize(stream) - backlog
            if room > 0:
                self._budgets[stream] = room - count
                return
            if self._closed.wait(delay):
                raise StreamClosed(stream)
            delay = min(delay * 2, 0.1)

    def backlog(self, client: redis.Redis, stream: str) -> int:
        """The most entries a reading group of ``stream`` has not acknowledged yet."""
        key = self.settings.keys.stream(stream)
        readers = set(self.settings.topology.readers.get(stream, ()))
        worst = 0
        length: int | None = None
        for group in client.xinfo_groups(key):
            if text(group["name"]) not in readers:
                continue
            lag = group.get("lag")
            if lag is None:
                length = client.xlen(key) if length is None else length
                lag = length
            worst = max(worst, int(group["pending"]) + int(lag))
        return worst

    def _start_writing(self, pipeline: str) -> None:
        """``pipeline`` runs here: its streams do not end before it finishes."""
        keys = self.settings.keys
        for stream, writers in self.settings.topology.writers.items():
            if pipeline not in writers:
                continue
            self._ensure_groups(stream)

            def register(client: redis.Redis, stream: str = stream) -> None:
                pipe = client.pipeline(transaction=True)
                pipe.hset(
                    keys.writers(stream), f"run{SEP}{pipeline}{SEP}{self.settings.instance}", 1
                )
                pipe.hdel(keys.writers(stream), f"done{SEP}{pipeline}")
                pipe.execute()

            self.call(register, f"registering pipeline {pipeline!r} as a writer of {stream!r}")
            self._writing.add((stream, pipeline))

    def finish(self, stream: str, writer: str = "") -> None:
        if (stream, writer) not in self._writing:
            return  # it never ran here (another instance held its lease)
        self._writing.discard((stream, writer))
        key = self.settings.keys.writers(stream)

        def done(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.hdel(key, f"run{SEP}{writer}{SEP}{self.settings.instance}")
            pipe.hset(key, f"done{SEP}{writer}", f"{time.time():.6f}")
            pipe.execute()

        self.call(done, f"finishing stream {stream!r}", give_up=self._late_give_up())

    def _late_give_up(self, seconds: float = 10.0) -> Callable[[], bool]:
        """For calls made while stopping: try through an outage for ``seconds``."""
        deadline = time.monotonic() + seconds
        return lambda: time.monotonic() > deadline

    # -- reading --------------------------------------------------------------------------

    def subscribe(
        self, stream: str, reader: str = "", options: ReadOptions | None = None
    ) -> Iterator[Any]:
        key = (stream, reader)
        subscription = RedisSubscription(
            self, stream, reader, options or ReadOptions(), self._interrupts.get(key, 0)
        )
        return subscription.entries()

    def interrupted(self, stream: str, reader: str, seen: int) -> bool:
        return self._closed.is_set() or self._interrupts.get((stream, reader), 0) != seen

    def interrupt(self, stream: str, reader: str = "") -> None:
        key = (stream, reader)
        self._interrupts[key] = self._interrupts.get(key, 0) + 1

    @property
    def codec(self) -> Codec:
        """How items are written to and read from entries (``Codec.decode`` reads any)."""
        return self._codec

    # -- instances and leases -------------------------------------------------------------

    def keeper(self) -> Keeper:
        """This process's keeper thread (started on first use)."""
        with self._lock:
            if self._keeper is None:
                self._keeper = Keeper(self)
                self._keeper.start()
            return self._keeper

    def start(self, pipelines: Sequence[str]) -> None:
        """Register this instance (its keeper heartbeats it until :meth:`release`)."""
        self.pipelines = tuple(pipelines)
        self.keeper().register_instance()

    @contextlib.contextmanager
    def lease(self, pipeline: str, stop: threading.Event) -> Iterator[bool]:
        if pipeline not in self.settings.singletons:
            self._start_writing(pipeline)
            yield True
            return
        held = take_lease(self, pipeline, stop)
        if not held:
            yield False
            return
        try:
            self._start_writing(pipeline)
            yield True
        finally:
            self.keeper().give_back(pipeline, ran_once=pipeline in self.settings.once)

    def close(self) -> None:
        self._closed.set()

    def release(self) -> None:
        """Flush acknowledgements, deregister, let leases and connections go."""
        with self._lock:
            keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.stop()
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- status ---------------------------------------------------------------------------

    def stream_status(self) -> tuple[StreamStatistics, ...]:
        """Every stream's statistics for the status page and ``/metrics``: its length, its
        capacity, entries pending (delivered, not acknowledged) and lagging (not delivered yet)
        summed over its reading groups, and its dead letters. ``()`` when Redis does not
        answer within a second (a scrape never hangs on the broker)."""
        try:
            found = self.flow_status(wait_seconds=1.0)
        except BrokerError:
            return ()
        return tuple(
            StreamStatistics(
                stream.name,
                stream.length,
                self.settings.maxsize(stream.name),
                pending=sum(group.pending for group in stream.groups),
                lag=sum(group.lag or 0 for group in stream.groups),
                dead_letters=stream.dead_letters,
            )
            for stream in found.streams
        )

    def flow_status(self, wait_seconds: float = 5.0) -> FlowStatus:
        """The flow's instances and streams as Redis has them now (frozen values).

        What ``weirflow status`` prints; see :class:`~weirflow.flows._stream_status.FlowStatus`.
        A status page may call it from any thread while the flow runs.

        Raises:
            BrokerError: Redis did not answer within ``wait_seconds`` (or refused).
        """
        from ._stream_status import read_status

        try:
            return self.call(
                lambda client: read_status(client, self.settings),
                "reading the status",
                self._late_give_up(wait_seconds),
            )
        except StreamClosed:
            raise BrokerError(
                f"Redis broker {self.settings.options.shown} did not answer within "
                f"{wait_seconds:g}s",
                None,
                self.settings.options.shown,
            ) from None


def _unparsed(response: Any, **options: Any) -> Any:
    return response


def reads_stream(pipeline: Any) -> bool:
    """Whether ``pipeline`` reads a stream (it then runs in every instance and scales out)."""
    first = pipeline.stages[0] if pipeline.stages else None
    return bool(
        first is not None and first.source is not None and first.source.factory is StreamSource
    )
