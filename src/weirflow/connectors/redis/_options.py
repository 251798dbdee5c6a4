"""How to reach a Redis server: one frozen value, checked when it is made, that never shows a
password (:attr:`RedisOptions.shown` is the URL with its password masked).

The TLS files can ride in the URL's query, under the names redis-py's ``from_url`` passes on
(``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``), so that one string
configures a broker everywhere: ``FlowBuilder(broker=...)``, ``--broker`` and
``$WEIRFLOW_BROKER``. Every file is loaded when the options are made: a missing or unreadable
certificate is a :class:`~weirflow.ConfigError` at build time, never a connection that fails
(or is retried as an outage) later.
"""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..._errors import ConfigError
from ..._hints import did_you_mean
from ..._redact import redact_url
from ..._tls import ca_context

SCHEMES = ("redis", "rediss")
TLS_PARAMETERS = {"ssl_ca_certs": "ca_certs", "ssl_certfile": "certfile", "ssl_keyfile": "keyfile"}
"""URL query parameters naming TLS files -> the :class:`RedisOptions` field each one sets."""
CERT_REQS = {"required": True, "none": False}
"""``ssl_cert_reqs=`` values -> :attr:`RedisOptions.verify`."""
QUERY_PARAMETERS = (*TLS_PARAMETERS, "ssl_cert_reqs", "db")


@dataclass(frozen=True)
class RedisOptions:
    """A Redis server and how to talk to it.

    Args:
        url: ``redis://[user:password@]host[:port][/db]`` or ``rediss://`` (TLS); a ``rediss://``
            URL may carry the TLS options as ``?ssl_ca_certs=/path/ca.pem&ssl_certfile=...
            &ssl_keyfile=...&ssl_cert_reqs=required|none`` (redis-py's names).
        socket_timeout: seconds a command may wait for its answer (a blocking read adds its
            own block time to this).
        connect_timeout: seconds a connection may take.
        health_check_interval: seconds after which an idle connection is pinged before use.
        backoff: the first wait before reconnecting, doubled up to ``backoff_cap``.
        ca_certs, certfile, keyfile: TLS files (a CA bundle or directory; a client certificate
            and its key, or one PEM file holding both).
        verify: whether the server's certificate must verify (``rediss://`` only).

    Example:
        >>> options = RedisOptions.from_url("redis://app:s3cret@127.0.0.1:6379/0")
        >>> options.shown
        'redis://app:***@127.0.0.1:6379/0'
        >>> RedisOptions.from_url("rediss://127.0.0.1:6380/0?ssl_cert_reqs=none").verify
        False
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
        made = replace(cls(url, **options), **_query_options(url, options))
        made._check_tls()
        return made

    @property
    def shown(self) -> str:
        """The URL with its password masked: what logs and errors say."""
        return redact_url(self.url)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "rediss"

    @property
    def address(self) -> str:
        """The URL without the TLS query parameters (the client gets those as options)."""
        parts = urlsplit(self.url)
        kept = [(k, v) for k, v in parse_qsl(parts.query) if k in ("db",)]
        return urlunsplit(parts._replace(query=urlencode(kept)))

    def _check_tls(self) -> None:
        files = {name: getattr(self, name) for name in TLS_PARAMETERS.values()}
        given = [name for name, path in files.items() if path is not None]
        if not self.tls and (given or not self.verify):
            raise ConfigError(
                f"broker: TLS options ({', '.join(given) or 'verify'}) need a rediss:// URL, "
                f"got {self.shown!r}"
            )
        if self.ca_certs is not None:
            try:
                ca_context(self.ca_certs)
            except (OSError, ssl.SSLError) as error:
                raise ConfigError(
                    f"broker: cannot load the CA certificates ssl_ca_certs={self.ca_certs!r} "
                    f"({error}); give the path of a PEM file or directory"
                ) from None
        if self.keyfile is not None and self.certfile is None:
            raise ConfigError(
                "broker: ssl_keyfile needs ssl_certfile (the client certificate it belongs to)"
            )
        if self.certfile is not None:
            try:
                ssl.create_default_context().load_cert_chain(self.certfile, self.keyfile)
            except (OSError, ssl.SSLError) as error:
                raise ConfigError(
                    f"broker: cannot load the client certificate ssl_certfile={self.certfile!r}"
                    f", ssl_keyfile={self.keyfile!r} ({error}); give PEM files of a "
                    "certificate and its unencrypted key"
                ) from None

    def __repr__(self) -> str:
        return f"RedisOptions({self.shown!r})"


def _query_options(url: str, given: dict[str, Any]) -> dict[str, Any]:
    """The options the URL's query sets (``ssl_ca_certs=...`` -> ``ca_certs``...), checked."""
    found: dict[str, Any] = {}
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name == "db":
            continue
        field = "verify" if name == "ssl_cert_reqs" else TLS_PARAMETERS.get(name)
        if field is None:
            raise ConfigError(
                f"broker: the URL {redact_url(url)!r} has an unknown query parameter "
                f"{name!r}{did_you_mean(name, QUERY_PARAMETERS)}; it may carry "
                f"{', '.join(QUERY_PARAMETERS)} (timeouts are weirflow's own)"
            )
        if field in found or given.get(field) is not None:
            raise ConfigError(f"broker: {name} is given twice (in the URL and as an option)")
        found[field] = _query_value(name, value)
    return found


def _query_value(name: str, value: str) -> str | bool:
    if name == "ssl_cert_reqs":
        if value.lower() not in CERT_REQS:
            raise ConfigError(
                f"broker: ssl_cert_reqs must be one of {', '.join(CERT_REQS)}, got {value!r}"
            )
        return CERT_REQS[value.lower()]
    if not value:
        raise ConfigError(f"broker: {name}= in the URL is empty; give a file's path")
    return value
