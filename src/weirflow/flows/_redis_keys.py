"""The names and settings a flow's Redis broker shares with its reader and keeper.

:class:`Keys` names every key of one flow (all start with the flow's name), :class:`BrokerSettings`
is what any process of the flow needs to reach them (it pickles), and :func:`entry_key` orders
stream entry ids.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

from ..connectors.redis import RedisOptions
from ._distribution import StreamTopology

STREAM_MAXSIZE = 10_000
BLOCK_SECONDS = 0.25  # a blocked read returns this often to look at stops and ends
BATCH = 1000  # entries per pipelined round trip
SEP = "\x1f"  # between names in hash fields: pipeline names have no control characters


@dataclass(frozen=True)
class Keys:
    """The Redis keys of one flow (``prefix`` is the flow's name).

    Example:
        >>> keys = Keys("orders")
        >>> keys.stream("jobs"), keys.dead("jobs"), keys.lease("produce")
        ('orders:jobs', 'orders:jobs:dead', 'orders:@lease:produce')
    """

    prefix: str

    def stream(self, stream: str) -> str:
        return f"{self.prefix}:{stream}"

    def dead(self, stream: str) -> str:
        """The dead-letter stream: original fields plus ``error``, ``pipeline``, ``id``..."""
        return f"{self.prefix}:{stream}:dead"

    def dead_counts(self, stream: str) -> str:
        return f"{self.prefix}:{stream}:@dead-counts"

    def errors(self, stream: str, group: str) -> str:
        return f"{self.prefix}:{stream}:@errors:{group}"

    def writers(self, stream: str) -> str:
        return f"{self.prefix}:{stream}:@writers"

    def instance(self, instance: str) -> str:
        return f"{self.prefix}:@instance:{instance}"

    def instances(self) -> str:
        """A SCAN pattern matching every instance key of the flow."""
        escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.prefix)
        return f"{escaped}:@instance:*"

    def lease(self, pipeline: str) -> str:
        return f"{self.prefix}:@lease:{pipeline}"

    def once(self, pipeline: str) -> str:
        return f"{self.prefix}:@once:{pipeline}"


@dataclass(frozen=True)
class BrokerSettings:
    """What a Redis broker needs, in any process of the flow (picklable)."""

    options: RedisOptions
    keys: Keys
    topology: StreamTopology
    instance: str
    started: float  # wall clock, seconds
    serializer: str = "json"
    lease_seconds: float = 15.0
    singletons: frozenset[str] = frozenset()  # pipelines that run in one instance at a time
    once: frozenset[str] = frozenset()  # ... of which those that run once

    def maxsize(self, stream: str) -> int:
        return self.topology.maxsizes.get(stream, STREAM_MAXSIZE)


def new_instance_id() -> str:
    """``host:pid:random``: one running ``weirflow run`` (or launch)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def entry_key(entry_id: bytes) -> tuple[int, int]:
    """A stream entry id as numbers, to compare ids."""
    milliseconds, _, sequence = entry_id.partition(b"-")
    return int(milliseconds), int(sequence or 0)


def text(value: object) -> str:
    """A Redis reply (bytes) as text."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)
