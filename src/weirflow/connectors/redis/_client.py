"""Making redis-py clients with explicit limits, and saying in one line why a call failed.

redis-py is imported here first: without it, the error says which extra to install. Clients
get socket and connect timeouts (a blocked read is never a minute-long hang), a health check
of idle connections and redis-py's own retry of a command once on a broken connection;
longer outages (a restarting server) are waited out by the broker, which reconnects with
backoff and logs one line per outage.
"""

from __future__ import annotations

import ssl
from typing import Any

from ..._errors import BrokerError
from ._options import RedisOptions

try:
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import AuthenticationError, AuthorizationError, NoPermissionError
    from redis.retry import Retry
except ImportError as error:  # pragma: no cover - the extra is part of the dev install
    raise ImportError(
        "weirflow's Redis broker needs redis-py 5 or newer: pip install 'weirflow[redis]'"
    ) from error

__all__ = ["is_outage", "make_client", "reason", "redis"]

_REFUSED = (AuthenticationError, AuthorizationError, NoPermissionError)
OUTAGES = (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError, OSError)
"""Errors of a server that is down, restarting or unreachable: wait and reconnect."""


def make_client(options: RedisOptions, block_seconds: float = 0.0) -> redis.Redis:
    """A client of ``options``' server; ``block_seconds``: the longest blocking read it makes.

    Example:
        >>> client = make_client(RedisOptions.from_url("redis://127.0.0.1:1/0"))
        >>> client.connection_pool.connection_kwargs["socket_timeout"]
        5.0
        >>> client.close()
    """
    kwargs: dict[str, Any] = {
        "socket_timeout": options.socket_timeout + block_seconds,
        "socket_connect_timeout": options.connect_timeout,
        "health_check_interval": options.health_check_interval,
        "retry": Retry(ExponentialBackoff(cap=options.backoff_cap, base=options.backoff), 1),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "socket_keepalive": True,
    }
    if options.tls:
        kwargs["ssl_cert_reqs"] = ssl.CERT_REQUIRED if options.verify else ssl.CERT_NONE
        kwargs["ssl_check_hostname"] = options.verify
        for name in ("ca_certs", "certfile", "keyfile"):
            value = getattr(options, name)
            if value is not None:
                kwargs[f"ssl_{name}"] = value
    return redis.Redis.from_url(options.address, **kwargs)


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means "the server is away for now" (wait and try again).

    A refused login, a certificate that does not verify or a TLS alert of the server (it
    wants a client certificate, or does not trust ours) is not an outage: it is permanent. A
    TLS connection cut short (``SSLEOFError``) is a server going away, so it is an outage.
    """
    if isinstance(error, _REFUSED) or _tls_refusal(error) is not None:
        return False
    if isinstance(error, redis.ResponseError):
        return str(error).startswith(("LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN"))
    return isinstance(error, OUTAGES)


def _tls_refusal(error: BaseException) -> ssl.SSLError | None:
    """The TLS error (other than a cut connection) that ``error`` is or was raised from."""
    found = error if isinstance(error, ssl.SSLError) else (error.__cause__ or error.__context__)
    if isinstance(found, ssl.SSLError) and not isinstance(found, ssl.SSLEOFError):
        return found
    return None


def reason(error: BaseException) -> str:
    """Why a call failed, one line, no credentials (redis-py never puts the password in it).

    Example:
        >>> import redis
        >>> reason(redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Refused."))
        'ConnectionError: Error 111 connecting to 127.0.0.1:1. Refused.'
    """
    text = str(error).strip().splitlines()[0] if str(error).strip() else "no message"
    return f"{type(error).__name__}: {text}"


def permanent(error: BaseException, options: RedisOptions, pipeline: str | None) -> BrokerError:
    """The :class:`~weirflow.BrokerError` of an error that retrying cannot mend."""
    hint = ""
    if isinstance(error, _REFUSED):
        hint = "; check the user and password in the broker URL"
    elif _tls_refusal(error) is not None:
        hint = "; check the TLS options of the broker URL (ssl_ca_certs, ssl_certfile, ssl_keyfile)"
    failure = BrokerError(
        f"Redis broker {options.shown}: {reason(error)}{hint}", pipeline, options.shown
    )
    failure.__cause__ = error
    return failure
