"""The options of the HTTP connector and senders, checked where they are given.

:class:`Site` says where options came from (``pipeline 'p': with_http_connector(timeout=...)``);
``check_*`` return a checked value or raise :class:`~weirflow.InvalidArgumentError` (a
:class:`~weirflow.ConfigError`) naming the field, whether the object is made by the builder or
directly; :func:`retry_policy` turns ``retries``/``backoff`` (``retries`` may be a
:class:`~weirflow.Retry`) into the one retry policy; :func:`tls_context` turns ``verify`` and
``cert`` into what httpx takes, reading the files at once so that a missing or damaged file is
a build-time error.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx

from ..._errors import InvalidArgumentError
from ..._hints import shown
from ..._redact import redact_url
from ..._retry import Retry

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DECODES = ("json", "text", "bytes")
OVERRIDES = frozenset({"url", "params", "headers", "json", "data", "method"})

Verify: TypeAlias = "bool | str | os.PathLike[str]"
Cert: TypeAlias = "str | os.PathLike[str] | tuple[str, str] | tuple[str, str, str]"

MAX_SECONDS = 10 * 366 * 24 * 3600
"""The longest ``timeout``, ``backoff`` or ``deadline_seconds`` accepted: ten years."""
DEFAULT_RETRIES = 2
"""The default ``retries``: a request is tried three times in all."""
DEFAULT_BACKOFF = 0.5
"""The default ``backoff``, in seconds: waits of 0.5 s, then 1 s."""
MAX_RETRIES = 999
"""The most ``retries`` accepted (a :class:`~weirflow.Retry` makes at most 1000 attempts)."""
BACKOFF_CAP = 30.0
"""The longest wait between two attempts made from ``retries``/``backoff`` (or ``backoff`` if
that is longer): the doubling stops there."""


@dataclass(frozen=True)
class Site:
    """Where options were given, for messages: ``pipeline 'p': with_http_connector(f=...)``.

    ``template`` shows one field, e.g. ``"send('http_post', {name}=...)"``, or
    ``"the configuration's {name!r}"`` for a value a configuration stage produced at run time.
    """

    pipeline: str
    template: str = "with_http_connector({name}=...)"

    def __str__(self) -> str:
        return f"pipeline {self.pipeline!r}"

    def field(self, name: str) -> str:
        return f"pipeline {self.pipeline!r}: {self.template.format(name=name)}"

    def at_run_time(self) -> Site:
        """The site of the values a configuration stage gives for one run."""
        return Site(self.pipeline, "the configuration's {name!r}")


def check_method(method: Any, site: Site, allowed: tuple[str, ...] = METHODS) -> str:
    """The method in upper case, or :class:`InvalidArgumentError` naming the field."""
    if not isinstance(method, str) or method.upper() not in allowed:
        raise InvalidArgumentError(
            f"{site.field('method')}: the method must be one of {', '.join(allowed)}, "
            f"got {method!r}"
        )
    return method.upper()


def check_url(url: Any, site: Site, field: str) -> str:
    """``url`` if it is an absolute http(s) URL, else :class:`InvalidArgumentError`."""
    if not isinstance(url, str):
        raise InvalidArgumentError(
            f"{site.field(field)}: the URL must be a string, got {type(url).__name__}"
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise InvalidArgumentError(
            f"{site.field(field)}: {redact_url(url)!r} is not a valid URL ({error})"
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidArgumentError(
            f"{site.field(field)}: the URL must start with http:// or https:// and name a host, "
            f"got {redact_url(url)!r}"
        )
    return url


def check_headers(headers: Any, site: Site) -> dict[str, str]:
    """A copy of ``headers`` (a mapping of strings), or :class:`InvalidArgumentError`."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
    ):
        raise InvalidArgumentError(
            f"{site.field('headers')}: give a dict of strings, e.g. {{'apikey': '...'}}, "
            f"got {type(headers).__name__}"
        )
    return dict(headers)


def check_seconds(value: Any, site: Site, field: str, *, zero: bool = False) -> float:
    """``value`` as a float: a finite number of seconds > 0 (>= 0 with ``zero``), at most
    :data:`MAX_SECONDS`; else :class:`InvalidArgumentError` naming the field."""
    if not (
        _number(value)
        and math.isfinite(value)
        and (value >= 0 if zero else value > 0)
        and value <= MAX_SECONDS
    ):
        raise InvalidArgumentError(
            f"{site.field(field)}: give a number of seconds {'>=' if zero else '>'} 0 and at "
            f"most {MAX_SECONDS} (ten years), got {shown(value)}"
        )
    return float(value)


def check_max_body_bytes(value: Any, site: Site) -> int | None:
    """``value`` if it is None (no limit) or a whole number of bytes >= 1."""
    if value is not None and (not _whole(value) or value < 1):
        raise InvalidArgumentError(
            f"{site.field('max_body_bytes')}: give a whole number of bytes >= 1 (or None "
            f"for no limit), got {shown(value)}"
        )
    return int(value) if value is not None else None


def retry_policy(retries: Any, backoff: Any, site: Site) -> Retry:
    """The one retry policy of a requester, from ``retries`` and ``backoff``.

    ``retries`` is a :class:`~weirflow.Retry` (then ``backoff`` stays at its default, 0.5), or
    the number of tries after the first (0 to :data:`MAX_RETRIES`), ``backoff`` then being the
    wait before the first retry, doubled for each next one up to :data:`BACKOFF_CAP` (or
    ``backoff`` itself, if longer).

    Example:
        >>> policy = retry_policy(3, 20.0, Site("p"))
        >>> policy.attempts, [policy.delay(n) for n in (1, 2, 3)]
        (4, [20.0, 30.0, 30.0])
        >>> retry_policy(Retry(attempts=2, backoff=1, cap=1), 0.5, Site("p")).attempts
        2
    """
    if isinstance(retries, Retry):
        if backoff != DEFAULT_BACKOFF:
            raise InvalidArgumentError(
                f"{site.field('backoff')}: the Retry given as retries= has its own backoff "
                f"({retries.backoff:g}); leave backoff out, got {backoff!r}"
            )
        return retries
    if not _whole(retries) or not 0 <= retries <= MAX_RETRIES:
        raise InvalidArgumentError(
            f"{site.field('retries')}: give a whole number >= 0 and at most {MAX_RETRIES}, or "
            f"a weirflow.Retry(attempts=..., backoff=..., cap=...), got {shown(retries)}"
        )
    wait = check_seconds(backoff, site, "backoff", zero=True)
    return Retry(attempts=retries + 1, backoff=wait, cap=max(BACKOFF_CAP, wait))


def tls_context(verify: Verify, cert: Cert | None, site: Site) -> ssl.SSLContext | bool:
    """What ``httpx.Client(verify=...)`` should get for these options; files are read now.

    ``verify`` is True (check the server against the system's trusted CAs), False (do not
    check), or the path of a CA bundle file or directory; ``cert`` is a client certificate: the
    path of a PEM file holding the certificate and its key, or ``(certfile, keyfile)`` or
    ``(certfile, keyfile, password)``.
    """
    if cert is None and isinstance(verify, bool):
        return verify
    context: ssl.SSLContext
    if isinstance(verify, bool):
        context = httpx.create_ssl_context(verify=verify)
    elif isinstance(verify, str | os.PathLike):
        path = os.fspath(verify)
        try:
            if os.path.isdir(path):
                context = ssl.create_default_context(capath=path)
            else:
                context = ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as error:
            raise InvalidArgumentError(
                f"{site.field('verify')}: cannot load the CA bundle {path!r} ({error}); give "
                "the path of a PEM file or directory of CA certificates, True or False"
            ) from None
    else:
        raise InvalidArgumentError(
            f"{site.field('verify')}: give True, False or the path of a CA bundle, got {verify!r}"
        )
    if cert is not None:
        parts = (cert,) if isinstance(cert, str | os.PathLike) else tuple(cert)
        if not 1 <= len(parts) <= 3 or not all(isinstance(p, str | os.PathLike) for p in parts):
            raise InvalidArgumentError(
                f"{site.field('cert')}: give a PEM file path, (certfile, keyfile) or "
                f"(certfile, keyfile, password), got {type(cert).__name__}"
            )
        certfile, *rest = (os.fspath(p) for p in parts)
        try:
            context.load_cert_chain(certfile, *rest)
        except (OSError, ssl.SSLError) as error:
            raise InvalidArgumentError(
                f"{site.field('cert')}: cannot load the client certificate {certfile!r} ({error})"
            ) from None
    return context


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
