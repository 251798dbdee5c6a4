"""What a flow with a Redis broker looks like now: its instances and its streams, as frozen values.

:func:`read_status` reads them (``SCAN`` of the instance keys, then per stream ``XLEN``,
``XINFO GROUPS`` and the dead-letter counts); ``weirflow status`` prints them and
:meth:`~weirflow.flows._redis_broker.RedisBroker.flow_status` returns them, for a status page.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..connectors.redis._client import redis
from ._redis_keys import text

if TYPE_CHECKING:
    from ._redis_keys import BrokerSettings


@dataclass(frozen=True)
class InstanceStatus:
    """One running instance of the flow (a ``weirflow run``).

    Attributes:
        id: ``host:pid:random``.
        host, pid: where it runs.
        pipelines: the pipelines it runs.
        started, heartbeat: Unix times of its start and of its last heartbeat.
    """

    id: str
    host: str
    pid: int
    pipelines: tuple[str, ...]
    started: float
    heartbeat: float


@dataclass(frozen=True)
class GroupStatus:
    """One reading pipeline of a stream (its consumer group).

    Attributes:
        pipeline: the reading pipeline.
        lag: entries not yet delivered to it (``None``: Redis cannot tell).
        pending: entries delivered and not acknowledged yet.
        consumers: its consumers (one per running instance, and dead ones until removed).
        dead_letters: its entries that went to the dead letters.
    """

    pipeline: str
    lag: int | None
    pending: int
    consumers: int
    dead_letters: int


@dataclass(frozen=True)
class StreamStatus:
    """One stream: its length (entries not trimmed yet) and its reading groups."""

    name: str
    key: str
    length: int
    dead_letters: int
    groups: tuple[GroupStatus, ...]


@dataclass(frozen=True)
class FlowStatus:
    """A flow's instances and streams.

    Example:
        >>> status = FlowStatus("orders", "redis://127.0.0.1:6379/0", (), ())
        >>> status.as_dict()["flow"]
        'orders'
    """

    flow: str
    broker: str
    instances: tuple[InstanceStatus, ...]
    streams: tuple[StreamStatus, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for ``--json``)."""
        return asdict(self)


def read_status(client: redis.Redis, settings: BrokerSettings) -> FlowStatus:
    """The flow's status from Redis."""
    keys = settings.keys
    instances = []
    for key in client.scan_iter(match=keys.instances(), count=200):
        fields = {text(k): text(v) for k, v in client.hgetall(key).items()}
        if not fields:
            continue  # expired meanwhile
        instances.append(
            InstanceStatus(
                id=text(key).rpartition(":@instance:")[2],
                host=fields.get("host", "?"),
                pid=int(fields.get("pid", 0)),
                pipelines=tuple(json.loads(fields.get("pipelines", "[]"))),
                started=float(fields.get("started", 0)),
                heartbeat=float(fields.get("heartbeat", 0)),
            )
        )
    streams = []
    for stream in settings.topology.streams:
        key = keys.stream(stream)
        dead = {text(k): int(v) for k, v in client.hgetall(keys.dead_counts(stream)).items()}
        try:
            groups = {text(g["name"]): g for g in client.xinfo_groups(key)}
        except redis.ResponseError:  # no such stream yet
            groups = {}
        streams.append(
            StreamStatus(
                name=stream,
                key=key,
                length=int(client.xlen(key)),
                dead_letters=int(client.xlen(keys.dead(stream))),
                groups=tuple(
                    GroupStatus(
                        pipeline=reader,
                        lag=_lag(groups.get(reader)),
                        pending=int(groups[reader]["pending"]) if reader in groups else 0,
                        consumers=int(groups[reader]["consumers"]) if reader in groups else 0,
                        dead_letters=dead.get(reader, 0),
                    )
                    for reader in settings.topology.readers.get(stream, ())
                ),
            )
        )
    return FlowStatus(
        settings.keys.prefix,
        settings.options.shown,
        tuple(sorted(instances, key=lambda i: i.started)),
        tuple(streams),
    )


def _lag(group: dict[str, Any] | None) -> int | None:
    if group is None:
        return None
    lag = group.get("lag")
    return None if lag is None else int(lag)
