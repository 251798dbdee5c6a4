"""Keeping credentials out of log lines and error messages.

Connectors and senders carry API keys in query strings, passwords in URLs and tokens in headers.
Everything weirflow prints about a request goes through these functions first:
:func:`redact_url` masks the password of a URL and the values of query parameters whose name
looks secret, :func:`redact_headers` masks sensitive headers, :func:`redact_text` masks secret
strings known in advance, and :class:`RedactingFilter` applies them to log records, so a URL
that reaches a log message by another path is masked too. Masked values become ``***``.

Example:
    >>> redact_url("https://bob:hunter2@api.example.com/v1?apikey=abc123&city=Oslo")
    'https://bob:***@api.example.com/v1?apikey=***&city=Oslo'
    >>> redact_headers({"Authorization": "Bearer abc", "Accept": "application/json"})
    {'Authorization': '***', 'Accept': 'application/json'}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

__all__ = ["MASK", "RedactingFilter", "redact_headers", "redact_text", "redact_url"]

MASK = "***"

# Query parameter names (lower case, ``-`` read as ``_``) whose values are secrets.
_SECRET_PARAMS = frozenset(
    {
        "apikey",
        "api_key",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "signature",
        "sig",
        "auth",
        "authorization",
        "x_api_key",
    }
)
_SECRET_PARAM_PARTS = ("apikey", "api_key", "token", "secret", "password", "signature")
_SECRET_PARAM_SUFFIXES = ("_key", "_auth")

_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "apikey"}
)
_SECRET_HEADER_PARTS = ("key", "token", "secret", "password", "auth")

# Anything that looks like an absolute URL: a scheme, "://", then up to whitespace or a quote.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")


def is_secret_param(name: str) -> bool:
    """Whether a query parameter called ``name`` carries a secret (``apikey``, ``token``...)."""
    normal = name.strip().lower().replace("-", "_")
    return (
        normal in _SECRET_PARAMS
        or any(part in normal for part in _SECRET_PARAM_PARTS)
        or normal.endswith(_SECRET_PARAM_SUFFIXES)
    )


def is_secret_header(name: str) -> bool:
    """Whether a header called ``name`` carries a secret (``Authorization``, ``X-Api-Key``...)."""
    normal = name.strip().lower()
    return normal in _SECRET_HEADERS or any(part in normal for part in _SECRET_HEADER_PARTS)


def redact_url(url: str) -> str:
    """``url`` with its password and the values of secret-looking query parameters masked.

    The rest of the URL is kept as it was written (no re-encoding), so the result still points
    at the same resource. A string that does not parse as a URL is returned unchanged.

    Example:
        >>> redact_url("http://localhost:8025/numbers?apikey=s3cret&limit=5")
        'http://localhost:8025/numbers?apikey=***&limit=5'
        >>> redact_url("postgresql://app:pa55@db:5432/readings")
        'postgresql://app:***@db:5432/readings'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = _redact_pairs(parts.query)
    fragment = _redact_pairs(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _redact_pairs(query: str) -> str:
    if not query:
        return query
    pieces = []
    for piece in query.split("&"):
        name, equals, _value = piece.partition("=")
        if equals and is_secret_param(unquote_plus(name)):
            piece = f"{name}={MASK}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_urls_in(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with the values of sensitive headers masked.

    Sensitive: ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``,
    ``X-Api-Key``, ``apikey``, and any header whose name contains ``key``, ``token``,
    ``secret``, ``password`` or ``auth`` (in any case).

    Example:
        >>> redact_headers({"apikey": "abc", "X-Request-Id": "42"})
        {'apikey': '***', 'X-Request-Id': '42'}
    """
    return {name: MASK if is_secret_header(name) else value for name, value in headers.items()}


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of the given secret strings masked.

    The percent-encoded forms of each secret are masked too, since a secret usually appears
    inside a URL. Empty strings are ignored.

    Example:
        >>> redact_text("GET /data?key=a b failed for a b", ["a b"])
        'GET /data?key=*** failed for ***'
    """
    variants = {form for secret in secrets if secret for form in _forms(secret)}
    for variant in sorted(variants, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(variant, MASK)
    return text


def _forms(secret: str) -> tuple[str, ...]:
    return (secret, quote(secret, safe=""), quote_plus(secret, safe=""))


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in the records it lets through.

    It formats the record's message, masks the URLs in it (:func:`redact_url`) and the given
    known ``secrets`` (:func:`redact_text`), and stores the result as the record's message
    (with no arguments left to format). A formatted traceback is masked the same way. Add it
    to a *handler* so it sees the records of every logger::

        handler.addFilter(RedactingFilter(secrets=[api_key]))

    Example:
        >>> record = logging.LogRecord(
        ...     "demo", logging.INFO, __file__, 1, "polling %s", ("http://h/x?token=t0k",), None
        ... )
        >>> RedactingFilter().filter(record)
        True
        >>> record.getMessage()
        'polling http://h/x?token=***'
    """

    def __init__(self, name: str = "", secrets: Iterable[str] = ()) -> None:
        super().__init__(name)
        self.secrets = tuple(secret for secret in secrets if secret)

    def redact(self, text: str) -> str:
        """``text`` with URLs and the known secrets masked."""
        return redact_text(redact_urls_in(text), self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not super().filter(record):
            return False
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        redacted = self.redact(message)
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True
