"""The options only HTTP has, checked where they are given.

:class:`Site` says where options came from (``pipeline 'p': with_http_connector(timeout=...)``);
``check_*`` return a checked value or raise :class:`~weirflow.InvalidArgumentError` (a
:class:`~weirflow.ConfigError`) naming the field, whether the object is made by the builder or
directly; :func:`tls_context` turns ``verify`` and ``cert`` into what httpx takes, reading the
files at once so that a missing or damaged file is a build-time error. The checks every layer
shares (seconds, whole numbers) are :mod:`weirflow._checks`'s and the retry options
(:func:`~weirflow._retry.retry_policy`) :mod:`weirflow._retry`'s; both are re-exported here.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx

from ..._checks import MAX_SECONDS as MAX_SECONDS
from ..._checks import Where, is_whole
from ..._checks import check_seconds as check_seconds
from ..._errors import InvalidArgumentError
from ..._hints import shown
from ..._redact import redact_url
from ..._retry import BACKOFF_CAP as BACKOFF_CAP
from ..._retry import DEFAULT_BACKOFF as DEFAULT_BACKOFF
from ..._retry import MAX_RETRIES as MAX_RETRIES
from ..._retry import retry_policy as retry_policy
from ..._tls import ca_context

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DECODES = ("json", "text", "bytes")
OVERRIDES = frozenset({"url", "params", "headers", "json", "data", "method"})

Verify: TypeAlias = "bool | str | os.PathLike[str]"
Cert: TypeAlias = "str | os.PathLike[str] | tuple[str, str] | tuple[str, str, str]"

DEFAULT_RETRIES = 2
"""The default ``retries``: a request is tried three times in all."""


@dataclass(frozen=True)
class Site(Where):
    """Where options were given, for messages: ``pipeline 'p': with_http_connector(f=...)``.

    A :class:`weirflow._checks.Where` whose ``template`` shows one field, by default
    ``"with_http_connector({name}=...)"``, e.g. ``"send('http_post', {name}=...)"``, or
    ``"the configuration's {name!r}"`` for a value a configuration stage produced at run time.
    """

    template: str = "with_http_connector({name}=...)"

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


def check_max_body_bytes(value: Any, site: Site) -> int | None:
    """``value`` if it is None (no limit) or a whole number of bytes >= 1."""
    if value is not None and (not is_whole(value) or value < 1):
        raise InvalidArgumentError(
            f"{site.field('max_body_bytes')}: give a whole number of bytes >= 1 (or None "
            f"for no limit), got {shown(value)}"
        )
    return int(value) if value is not None else None


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
            context = ca_context(path)
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
