"""How a flow spreads over processes and machines: its name, its broker, its streams' shape.

:class:`Distribution` is the flow's own settings (``FlowBuilder(name=, broker=, serializer=,
lease_seconds=)``), checked when the builder is made; :class:`StreamTopology` says which
pipelines write and read each stream. Both are frozen values the flow keeps; the parts of a
flow that one ``weirflow run --pipelines`` runs are chosen in ``_parts.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from .._errors import ConfigError
from .._hints import did_you_mean, shown

SERIALIZERS = ("json", "msgpack")
DEFAULT_NAME = "flow"
_PACKAGE = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Distribution:
    """A flow's name and broker settings.

    Example:
        >>> Distribution("orders", "redis://:pw@127.0.0.1:6379/0").shown_broker
        'redis://:***@127.0.0.1:6379/0'
    """

    name: str = DEFAULT_NAME
    broker: str | None = None
    serializer: str = "json"
    lease_seconds: float = 15.0

    @property
    def shown_broker(self) -> str | None:
        """The broker URL without its password (for logs and errors)."""
        from .._redact import redact_url

        return None if self.broker is None else redact_url(self.broker)

    def with_broker(self, broker: str | None) -> Distribution:
        """The same settings with another broker URL (checked)."""
        return check_distribution(self.name, broker, self.serializer, self.lease_seconds)


def check_distribution(name: Any, broker: Any, serializer: Any, lease_seconds: Any) -> Distribution:
    """The settings of ``FlowBuilder(name=, broker=, serializer=, lease_seconds=)``.

    Example:
        >>> check_distribution("orders", "http://x", "json", 15)
        Traceback (most recent call last):
        ...
        weirflow.ConfigError: FlowBuilder(broker=...): the URL must start with redis:// or rediss://, got 'http://x'
    """  # noqa: E501
    if not isinstance(name, str) or not name or len(name) > 100 or not name.isprintable():
        raise ConfigError(
            "FlowBuilder(name=...) must be a non-empty printable str of at most 100 "
            f"characters (it prefixes the flow's Redis keys), got {shown(name)}"
        )
    if broker is not None:
        from ..connectors.redis._options import RedisOptions

        try:
            RedisOptions.from_url(broker)
        except ConfigError as error:
            problem = str(error).removeprefix("broker: ")
            raise ConfigError(f"FlowBuilder(broker=...): {problem}") from None
    if serializer not in SERIALIZERS:
        raise ConfigError(
            f"FlowBuilder(serializer=...) must be one of {', '.join(SERIALIZERS)}, got "
            f"{shown(serializer)}{did_you_mean(serializer, SERIALIZERS)}"
        )
    if (
        isinstance(lease_seconds, bool)
        or not isinstance(lease_seconds, (int, float))
        or not math.isfinite(lease_seconds)
        or not 1 <= lease_seconds <= 86_400
    ):
        raise ConfigError(
            f"FlowBuilder(lease_seconds=...) must be a number of seconds from 1 to 86400, got "
            f"{shown(lease_seconds)}"
        )
    return Distribution(name, broker, serializer, float(lease_seconds))


def default_flow_name(frame: FrameType | None) -> str:
    """The stem of the first file outside weirflow on the call stack, else ``"flow"``."""
    while frame is not None:
        filename = frame.f_globals.get("__file__")
        if isinstance(filename, str) and not Path(filename).resolve().is_relative_to(_PACKAGE):
            stem = Path(filename).stem
            return re.sub(r"[^\w.-]", "_", stem) or DEFAULT_NAME
        if filename is None and frame.f_globals.get("__name__") == "__main__":
            return DEFAULT_NAME  # an interactive session
        frame = frame.f_back
    return DEFAULT_NAME


@dataclass(frozen=True)
class StreamTopology:
    """Which pipelines write and read each stream (and the streams' maxsizes, if set)."""

    writers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    readers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    maxsizes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        writers: Mapping[str, Sequence[str]],
        readers: Mapping[str, Sequence[str]],
        maxsizes: Mapping[str, int],
    ) -> StreamTopology:
        def unique(names: Sequence[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(names))

        return cls(
            {name: unique(found) for name, found in writers.items()},
            {name: unique(found) for name, found in readers.items()},
            dict(maxsizes),
        )

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.writers)

    def writer_counts(self) -> dict[str, int]:
        """Stream name -> how many pipelines write it (for the local brokers)."""
        return {name: len(found) for name, found in self.writers.items()}

    def within(self, pipelines: Sequence[str]) -> StreamTopology:
        """The streams whose writers and readers all are among ``pipelines``."""
        chosen = set(pipelines)
        kept = [
            name
            for name in self.writers
            if chosen.issuperset(self.writers[name]) and chosen.issuperset(self.readers[name])
        ]
        return replace(
            self,
            writers={name: self.writers[name] for name in kept},
            readers={name: self.readers[name] for name in kept},
        )
