"""How to reach a Redis server: one frozen value, checked when it is made, that never shows a
password (:attr:`RedisOptions.shown` is the URL with its password masked)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..._errors import ConfigError
from ..._redact import redact_url

SCHEMES = ("redis", "rediss")


@dataclass(frozen=True)
class RedisOptions:
    """A Redis server and how to talk to it.

    Args:
        url: ``redis://[user:password@]host[:port][/db]`` or ``rediss://`` (TLS).
        socket_timeout: seconds a command may wait for its answer (a blocking read adds its
            own block time to this).
        connect_timeout: seconds a connection may take.
        health_check_interval: seconds after which an idle connection is pinged before use.
        backoff: the first wait before reconnecting, doubled up to ``backoff_cap``.
        ca_certs, certfile, keyfile: TLS files (a CA bundle; a client certificate and key).
        verify: whether the server's certificate must verify (``rediss://`` only).

    Example:
        >>> options = RedisOptions.from_url("redis://app:s3cret@127.0.0.1:6379/0")
        >>> options.shown
        'redis://app:***@127.0.0.1:6379/0'
        >>> RedisOptions.from_url("http://127.0.0.1")
        Traceback (most recent call last):
        ...
        weirflow.ConfigError: broker: the URL must start with redis:// or rediss://, got 'http://127.0.0.1'
    """

    url: str
    socket_timeout: float = 5.0
    connect_timeout: float = 5.0
    health_check_interval: float = 15.0
    backoff: float = 0.1
    backoff_cap: float = 5.0
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    verify: bool = True

    @classmethod
    def from_url(cls, url: Any, **options: Any) -> RedisOptions:
        """Check ``url`` and the options; a mistake is a :class:`~weirflow.ConfigError`."""
        if not isinstance(url, str) or urlsplit(url).scheme not in SCHEMES:
            shown = redact_url(url) if isinstance(url, str) else repr(url)
            raise ConfigError(
                f"broker: the URL must start with redis:// or rediss://, got {shown!r}"
            )
        parts = urlsplit(url)
        if not parts.hostname:
            raise ConfigError(f"broker: the URL {redact_url(url)!r} has no host")
        for name in ("socket_timeout", "connect_timeout", "health_check_interval", "backoff"):
            value = options.get(name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"broker: {name} must be a finite number > 0, got {value!r}")
        return cls(url, **options)

    @property
    def shown(self) -> str:
        """The URL with its password masked: what logs and errors say."""
        return redact_url(self.url)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "rediss"

    def __repr__(self) -> str:
        return f"RedisOptions({self.shown!r})"
