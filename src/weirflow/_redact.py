"""Keeping credentials out of log lines, error messages and ``repr()``.

Connectors and senders carry API keys in query strings, tokens in the user part or the path of a
URL, passwords in URLs and tokens in headers. Everything weirflow prints about a request goes
through these functions first. Masked values become ``***``.

* :func:`redact_url` masks, in a URL: the whole user information of an ``http(s)``/``ws(s)``
  URL (``https://TOKEN@host``, ``https://user:pw@host``; other schemes keep the user name and
  lose the password: ``postgresql://app:***@db``); the values of query parameters (and
  ``name=value`` fragments) whose name looks secret (:func:`is_secret_name`); and path parts
  matched by a path rule (by default Telegram's ``/bot<token>/``).
* :func:`redact_headers` masks the values of secret-looking headers; :func:`redact_text` masks
  secret strings known in advance; :class:`RedactingFilter` applies all of it to log records.
* A name is secret when, in any case, it contains ``key``, ``token``, ``secret``, ``pass``,
  ``auth``, ``session``, ``jwt``, ``credential``, ``cookie`` or ``signature``, starts with
  ``sig``, or is ``code``, ``appid``/``app_id`` or ``pwd``. Users add names and path rules
  with ``redact=[...]`` on the HTTP connector and senders (:func:`parse_rules`). While a
  request is sent, its rules and secret values are *active* on its thread (:func:`masking`),
  so the log filters mask them in what httpx and httpcore log about it.

Importing this module's :func:`install_library_filters` (done by the HTTP plumbing) puts a
:class:`RedactingFilter` on the ``httpx`` logger (its INFO line "HTTP Request: GET <url>") and on
every ``httpcore`` logger (their DEBUG traces, which show response headers).

Example:
    >>> redact_url("https://bob:hunter2@api.example.com/v1?apikey=abc123&city=Oslo")
    'https://***@api.example.com/v1?apikey=***&city=Oslo'
    >>> redact_url("https://api.telegram.org/bot123456:AAH-x_y/sendMessage?chat_id=7")
    'https://api.telegram.org/bot***/sendMessage?chat_id=7'
    >>> redact_headers({"Authorization": "Bearer abc", "Accept": "application/json"})
    {'Authorization': '***', 'Accept': 'application/json'}
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "RedactingFilter",
    "Redaction",
    "is_secret_name",
    "parse_rules",
    "redact_headers",
    "redact_text",
    "redact_url",
]

MASK = "***"

_SECRET_PARTS = (
    "key",
    "token",
    "secret",
    "pass",
    "auth",
    "session",
    "jwt",
    "credential",
    "cookie",
    "signature",
)
_SECRET_NAMES = frozenset({"code", "appid", "app_id", "pwd"})
_SECRET_PREFIXES = ("sig",)
_USERINFO_SCHEMES = frozenset({"http", "https", "ws", "wss"})

# Telegram's bot API: https://api.telegram.org/bot<digits>:<token>/method
_DEFAULT_PATHS = (re.compile(r"/bot(\d+:[A-Za-z0-9_-]+)"),)

# Anything that looks like an absolute URL: a scheme, "://", then up to whitespace or a quote.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")
# A header as httpcore's DEBUG traces show it: (b'Set-Cookie', b'session=abc')
_HEADER_PAIR = re.compile(r"\((b?)'([^'\\]*)', b?'((?:[^'\\]|\\.)*)'\)")
_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]+")


@dataclass(frozen=True)
class Redaction:
    """Extra redaction rules: secret names and path patterns (see :func:`parse_rules`).

    Attributes:
        names: parameter or header names (lower case) whose values are secret.
        paths: patterns searched in a URL's path; their groups (or, without groups, the whole
            match) are masked.
    """

    names: frozenset[str] = frozenset()
    paths: tuple[re.Pattern[str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.names or self.paths)


def parse_rules(redact: Any) -> Redaction:
    """The rules of a ``redact=[...]`` option.

    Each entry is a name (``"city"``: the values of the query parameter, form field or header
    of that name, in any case, are masked), a path template starting with ``/`` in which ``*``
    stands for a secret part of one segment (``"/hooks/*/*"``, ``"/bot*"``), or a compiled
    regular expression searched in the path (its groups are masked, or the whole match).

    Raises:
        ValueError: an entry is none of these (the message says which and why).

    Example:
        >>> rules = parse_rules(["city", "/hooks/*"])
        >>> redact_url("https://h/hooks/abc/x?city=Oslo", rules)
        'https://h/hooks/***/x?city=***'
    """
    if redact is None:
        return Redaction()
    if isinstance(redact, str | re.Pattern) or not isinstance(redact, Iterable):
        entries: list[Any] = [redact]
    else:
        entries = list(redact)
    names: set[str] = set()
    paths: list[re.Pattern[str]] = []
    for entry in entries:
        if isinstance(entry, re.Pattern) and isinstance(entry.pattern, str):
            paths.append(entry)
        elif isinstance(entry, str) and entry.startswith("/"):
            if "*" not in entry:
                raise ValueError(
                    f"the path template {entry!r} has no '*': mark the secret part, e.g. "
                    "'/hooks/*' or '/bot*'"
                )
            pieces = (re.escape(piece) for piece in entry.split("*"))
            paths.append(re.compile("([^/?#]+)".join(pieces)))
        elif isinstance(entry, str) and _NAME.fullmatch(entry):
            names.add(entry.lower())
        else:
            raise ValueError(
                f"give names ('appkey'), path templates ('/hooks/*') or compiled regular "
                f"expressions, got {entry!r}"
            )
    return Redaction(frozenset(names), tuple(paths))


_active = threading.local()


@contextlib.contextmanager
def masking(rules: Redaction, secrets: Iterable[str]) -> Iterator[None]:
    """Mask ``rules`` and ``secrets`` in everything redacted on this thread while inside.

    The HTTP plumbing wraps each request in it, so that the lines httpx and httpcore log
    about the request (through :class:`RedactingFilter`) lose its secrets too.
    """
    previous = getattr(_active, "state", None)
    _active.state = (rules, tuple(secret for secret in secrets if secret))
    try:
        yield
    finally:
        _active.state = previous


def _active_secrets() -> tuple[str, ...]:
    state = getattr(_active, "state", None)
    return () if state is None else state[1]


def _rules(extra: Redaction | None) -> Redaction:
    state = getattr(_active, "state", None)
    rules: Redaction = Redaction() if state is None else state[0]
    if extra:
        rules = Redaction(rules.names | extra.names, rules.paths + extra.paths)
    return rules


def is_secret_name(name: str, rules: Redaction | None = None) -> bool:
    """Whether a parameter or header called ``name`` carries a secret (see the module docs).

    Example:
        >>> [is_secret_name(n) for n in ("appid", "accessKey", "auth_code", "city", "sig_v4")]
        [True, True, True, False, True]
    """
    normal = name.strip().lower()
    return (
        normal in _SECRET_NAMES
        or normal.replace("-", "_") in _SECRET_NAMES
        or any(part in normal for part in _SECRET_PARTS)
        or normal.startswith(_SECRET_PREFIXES)
        or normal in _rules(rules).names
    )


def is_secret_param(name: str, rules: Redaction | None = None) -> bool:
    """Whether a query parameter called ``name`` carries a secret (:func:`is_secret_name`)."""
    return is_secret_name(name, rules)


def is_secret_header(name: str, rules: Redaction | None = None) -> bool:
    """Whether a header called ``name`` carries a secret (``Authorization``, ``X-Api-Key``...)."""
    return is_secret_name(name, rules)


def path_secrets(path: str, rules: Redaction | None = None) -> list[str]:
    """The parts of a URL path that path rules mark as secret."""
    found: list[str] = []
    for pattern in (*_DEFAULT_PATHS, *_rules(rules).paths):
        for match in pattern.finditer(path):
            groups = [g for g in match.groups() if g] if pattern.groups else [match.group(0)]
            found.extend(groups)
    return found


def _redact_path(path: str, rules: Redaction) -> str:
    for pattern in (*_DEFAULT_PATHS, *rules.paths):
        path = pattern.sub(lambda match: _mask_groups(match), path)
    return path


def _mask_groups(match: re.Match[str]) -> str:
    if not match.re.groups:
        return MASK
    text, start = [], match.start()
    for index in range(1, match.re.groups + 1):
        if match.start(index) == -1:
            continue
        text.append(match.string[start : match.start(index)])
        text.append(MASK)
        start = match.end(index)
    text.append(match.string[start : match.end()])
    return "".join(text)


def redact_url(url: str, rules: Redaction | None = None) -> str:
    """``url`` with its credentials masked (see the module docs); ``rules`` add to the defaults.

    The rest of the URL is kept as it was written (no re-encoding), so the result still points
    at the same resource. A string that does not parse as a URL is returned unchanged.

    Example:
        >>> redact_url("http://localhost:8025/numbers?appid=s3cret&limit=5")
        'http://localhost:8025/numbers?appid=***&limit=5'
        >>> redact_url("http://TOKEN@localhost/x")
        'http://***@localhost/x'
        >>> redact_url("postgresql://app:pa55@db:5432/readings")
        'postgresql://app:***@db:5432/readings'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    every = _rules(rules)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if parts.scheme.lower() in _USERINFO_SCHEMES:
            netloc = f"{MASK}@{hostport}"
        elif password is not None:
            netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}"
    path = _redact_path(parts.path, every)
    query = _redact_pairs(parts.query, every)
    fragment = _redact_pairs(parts.fragment, every) if "=" in parts.fragment else parts.fragment
    if (netloc, path, query, fragment) == (parts.netloc, parts.path, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def _redact_pairs(query: str, rules: Redaction) -> str:
    if not query:
        return query
    pieces = []
    for piece in query.split("&"):
        name, equals, _value = piece.partition("=")
        if equals and is_secret_name(unquote_plus(name), rules):
            piece = f"{name}={MASK}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_urls_in(text: str, rules: Redaction | None = None) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: redact_url(match.group(0), rules), text)


def redact_headers(headers: Mapping[str, str], rules: Redaction | None = None) -> dict[str, str]:
    """A copy of ``headers`` with the values of secret-looking headers masked.

    Example:
        >>> redact_headers({"apikey": "abc", "X-Request-Id": "42"})
        {'apikey': '***', 'X-Request-Id': '42'}
    """
    return {
        name: MASK if is_secret_header(name, rules) else value for name, value in headers.items()
    }


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


def _redact_header_pairs(text: str) -> str:
    if "'" not in text:
        return text

    def mask(match: re.Match[str]) -> str:
        prefix, name = match.group(1), match.group(2)
        if not is_secret_header(name):
            return match.group(0)
        return f"({prefix}'{name}', {prefix}'{MASK}')"

    return _HEADER_PAIR.sub(mask, text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in the records it lets through.

    It formats the record's message, masks the URLs in it (:func:`redact_url`), secret headers
    shown as ``(b'name', b'value')`` pairs and the given known ``secrets``
    (:func:`redact_text`), and stores the result as the record's message (with no arguments
    left to format). A formatted traceback is masked the same way. Add it to a *handler* so it
    sees the records of every logger::

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
        """``text`` with URLs, secret header pairs and the known secrets masked (with those of
        the request in progress on this thread, see :func:`masking`)."""
        masked = _redact_header_pairs(redact_urls_in(text))
        return redact_text(masked, (*self.secrets, *_active_secrets()))

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


LIBRARY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "weirflow.http",
)
"""Loggers that get a :class:`RedactingFilter` (a logger's filters see only its own records)."""


def install_library_filters() -> None:
    """Put a :class:`RedactingFilter` on each of :data:`LIBRARY_LOGGERS`, once."""
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in library.filters):
            library.addFilter(RedactingFilter())
