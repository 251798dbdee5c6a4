"""HTTP plumbing shared by the connector (``connectors.http``) and the senders (``senders.http``):
the errors and the retrying :class:`Requester` (the options' checks and TLS contexts live in
:mod:`weirflow._httpoptions` and are re-exported here).

Every request is bounded: its body is streamed and counted as it is decoded
(``max_body_bytes``) and the whole request, retries included, has a deadline
(``deadline_seconds``), see :mod:`weirflow._httpbody`. Errors are one line naming the pipeline,
the method and the redacted URL; the httpx exception is their ``__cause__`` and its traceback
is logged at DEBUG.
"""

from __future__ import annotations

import logging
import math
import ssl
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

import httpx

from ._errors import InvalidArgumentError, WeirflowError
from ._httpbody import (
    BodyNotDecodable,
    BodyTooLarge,
    bounded_reads,
    deadline,
    decoded_response,
    read_body,
)
from ._httpoptions import (
    DECODES,
    METHODS,
    OVERRIDES,
    Cert,
    Site,
    Verify,
    _number,
    check_headers,
    check_method,
    check_url,
    tls_context,
)
from ._redact import (
    Redaction,
    install_library_filters,
    is_secret_header,
    is_secret_param,
    masking,
    parse_rules,
    path_secrets,
    redact_text,
    redact_url,
    redact_urls_in,
)

__all__ = [
    "DECODES",
    "MAX_BODY_BYTES",
    "METHODS",
    "OVERRIDES",
    "Cert",
    "HttpBodyTooLargeError",
    "HttpDeadlineError",
    "HttpDecodeError",
    "HttpRequestError",
    "Requester",
    "Site",
    "Verify",
    "check_headers",
    "check_method",
    "check_url",
    "tls_context",
]

logger = logging.getLogger("weirflow.http")

# httpx logs every request's full URL at INFO ("HTTP Request: GET http://...?apikey=...") and
# httpcore's DEBUG traces show response headers: mask the credentials in those lines too, once,
# for every client of the process.
install_library_filters()

MAX_BODY_BYTES = 100 * 1024 * 1024
"""The default ``max_body_bytes``: 100 MiB of decoded body."""
DEADLINE_TIMEOUTS = 5
"""The default ``deadline_seconds`` is this many times ``timeout``."""
_ERROR_BODY = 4096  # bytes of an error answer's body read for the message


class HttpRequestError(WeirflowError):
    """An HTTP request failed for good: after its retries, or at once when retrying is useless.

    The httpx exception (``httpx.ConnectError``, ``httpx.HTTPStatusError``...) is the
    ``__cause__``. The message and :attr:`url` never show credentials.

    Attributes:
        pipeline: the pipeline that made the request.
        method: the HTTP method.
        url: the URL, with its password and secret query parameters masked.
        status_code: the status of the last answer, or ``None`` if no answer came.
        attempts: how many times the request was sent.
    """

    def __init__(
        self,
        message: str,
        pipeline: str,
        method: str,
        url: str,
        status_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.pipeline = pipeline
        self.method = method
        self.url = url
        self.status_code = status_code
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.message, self.pipeline, self.method, self.url, self.status_code, self.attempts),
        )


class HttpDecodeError(HttpRequestError, ValueError):
    """An answer's body could not be decoded as asked (``decode="json"``, a body not JSON,
    nested too deeply, or a damaged gzip body). Retrying would get the same body."""


class HttpBodyTooLargeError(HttpRequestError):
    """An answer's body, decoded, is longer than ``max_body_bytes``; it was not read further.

    Raise ``max_body_bytes`` if the body is expected to be that big. Not retried.
    """


class HttpDeadlineError(HttpRequestError):
    """The request, retries included, did not complete within ``deadline_seconds``.

    A server that answers very slowly (say a byte a second, each read within ``timeout``)
    ends here instead of holding the pipeline. Raise ``deadline_seconds`` for slow, big bodies.
    """


# Made afresh in each process (and after unpickling): the client, its TLS context, the locks.
_PER_PROCESS = ("_client", "_lock", "_closed", "tls")


class Requester:
    """Sends requests with retries through one lazily made, thread-safe ``httpx.Client``.

    The machinery the HTTP connector and senders share; use it to write another HTTP source
    or sender that behaves the same way. It pickles as its settings (a copy in a worker process
    makes its own client), unless it was given a ``client``.

    Args:
        site: the pipeline and the call the options came from (for messages).
        timeout: seconds allowed for each phase of a request (connect, write, read); > 0.
        retries: how many times a failed request is sent again; >= 0.
        backoff: seconds before the first retry, doubled for each next one; >= 0.
        verify: True, False or the path of a CA bundle (see :func:`tls_context`).
        cert: a client certificate (see :func:`tls_context`).
        client: an ``httpx.Client`` to use instead of making one; its owner closes it. The
            deadline then applies between the chunks of a body, not within one read.
        max_body_bytes: the longest body (decoded: after gzip) an answer may have, in bytes;
            a longer one stops the reading and is an :class:`HttpBodyTooLargeError`. ``None``:
            no limit. Default 100 MiB.
        deadline_seconds: the longest a request may take in all, from the first connection to
            the last byte of the body, retries and their backoff included; past it, an
            :class:`HttpDeadlineError`. Default ``5 * timeout``.
        redact: more names and path patterns to mask in logs and errors
            (see :func:`weirflow._redact.parse_rules`).

    Example:
        >>> from weirflow.testing import LocalHTTPServer
        >>> with LocalHTTPServer() as server:
        ...     server.route("GET", "/status", {"up": True}, statuses=[503])
        ...     http = Requester(Site("monitor"), retries=1, backoff=0.01)
        ...     answer = http.request("GET", f"{server.url}/status").json()
        ...     http.close()
        >>> answer
        {'up': True}
    """

    def __init__(
        self,
        site: Site,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        verify: Verify = True,
        cert: Cert | None = None,
        client: httpx.Client | None = None,
        max_body_bytes: int | None = MAX_BODY_BYTES,
        deadline_seconds: float | None = None,
        redact: Any = None,
    ) -> None:
        if not _number(timeout) or not 0 < timeout < math.inf:
            raise InvalidArgumentError(
                f"{site.field('timeout')}: give a number of seconds > 0, got {timeout!r}"
            )
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise InvalidArgumentError(
                f"{site.field('retries')}: give a whole number >= 0, got {retries!r}"
            )
        if not _number(backoff) or not 0 <= backoff < math.inf:
            raise InvalidArgumentError(
                f"{site.field('backoff')}: give a number of seconds >= 0, got {backoff!r}"
            )
        if client is not None:
            if not isinstance(client, httpx.Client):
                raise InvalidArgumentError(
                    f"{site.field('client')}: give an httpx.Client, got {type(client).__name__}"
                )
            if verify is not True or cert is not None:
                raise InvalidArgumentError(
                    f"{site.field('client')}: verify and cert cannot apply to a client you "
                    "give; configure TLS on that httpx.Client instead"
                )
        if max_body_bytes is not None and (
            not isinstance(max_body_bytes, int)
            or isinstance(max_body_bytes, bool)
            or max_body_bytes < 1
        ):
            raise InvalidArgumentError(
                f"{site.field('max_body_bytes')}: give a whole number of bytes >= 1 (or None "
                f"for no limit), got {max_body_bytes!r}"
            )
        if deadline_seconds is None:
            deadline_seconds = DEADLINE_TIMEOUTS * timeout
        elif not _number(deadline_seconds) or not 0 < deadline_seconds < math.inf:
            raise InvalidArgumentError(
                f"{site.field('deadline_seconds')}: give a number of seconds > 0, "
                f"got {deadline_seconds!r}"
            )
        try:
            self.rules: Redaction = parse_rules(redact)
        except ValueError as error:
            raise InvalidArgumentError(f"{site.field('redact')}: {error}") from None
        self.site = site
        self.max_body_bytes = max_body_bytes
        self.deadline_seconds = float(deadline_seconds)
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self.tls = tls_context(verify, cert, site) if client is None else True
        self._tls_options = (verify, cert)
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def __getstate__(self) -> dict[str, Any]:
        """The settings only: a copy (in a worker process) makes its own client and TLS context.

        Raises:
            TypeError: the requester uses a ``client`` given to it, which cannot cross.
        """
        if not self._owns_client:
            raise TypeError(
                f"{self.site}: an httpx.Client given as client=... cannot be sent to a worker "
                "process; give the TLS options (verify, cert) instead, or run in threads"
            )
        state = self.__dict__.copy()
        for name in _PER_PROCESS:
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.tls = tls_context(*self._tls_options, self.site)
        self._client = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def client(self) -> httpx.Client:
        """The client, made on first use."""
        client = self._client
        if client is None:
            with self._lock:
                if self._closed.is_set():
                    raise RuntimeError(f"{self.site}: the HTTP client was closed")
                if self._client is None:
                    made = httpx.Client(timeout=httpx.Timeout(self.timeout), verify=self.tls)
                    bounded_reads(made)
                    self._client = made
                client = self._client
        return client

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
        content: bytes | None = None,
        need_body: bool = True,
    ) -> httpx.Response:
        """Send one request, retrying transient failures; a non-2xx answer raises.

        Returns the answer with its whole body read and decoded (at most ``max_body_bytes``).
        With ``need_body=False`` (a sender, which only needs to know the request was
        accepted) a longer body is cut at the limit instead of being an error.

        Raises:
            HttpRequestError: the request failed for good; the httpx error is its cause.
            HttpBodyTooLargeError: the body is longer than ``max_body_bytes``.
            HttpDeadlineError: the request did not complete within ``deadline_seconds``.
            HttpDecodeError: a gzip or deflate body is damaged.
        """
        client = self.client()
        if isinstance(data, str | bytes):  # raw bodies go as content (httpx wants it so)
            content, data = (data.encode() if isinstance(data, str) else data), None
        target = httpx.URL(url)
        if params:  # merged into the URL's own query (httpx would replace it)
            target = target.copy_merge_params(params)
        request = client.build_request(
            method,
            target,
            headers=headers,
            json=json,
            data=data,
            content=content,
        )
        shown = redact_url(str(request.url), self.rules)
        secrets = _secrets(request, self.rules)
        attempts = self.retries + 1
        until = time.monotonic() + self.deadline_seconds
        for attempt in range(1, attempts + 1):
            error: httpx.HTTPError
            try:
                with masking(self.rules, secrets):
                    response = self._send(client, request, until, need_body)
            except httpx.RequestError as exc:
                if isinstance(exc, httpx.TimeoutException) and time.monotonic() >= until - 1e-3:
                    raise self._late(exc, method, shown, attempt, secrets) from exc
                error, reason = exc, f"{type(exc).__name__}: {exc}"
                status: int | None = None
                transient = _transient(exc)
                if _certificate_problem(exc):
                    reason = f"the server's TLS certificate failed verification ({exc})"
            except BodyTooLarge as exc:
                raise self._too_large(exc, method, shown, attempt) from None
            except BodyNotDecodable as exc:
                failure = HttpDecodeError(
                    f"{self.site}: {method} {shown} answered with a body that cannot be "
                    f"decoded: {exc}",
                    self.site.pipeline,
                    method,
                    shown,
                    None,
                    attempt,
                )
                raise failure from None
            else:
                if response.is_success:
                    logger.debug("%s: %s %s -> %d", self.site, method, shown, response.status_code)
                    return response
                status = response.status_code
                reason = f"{status} {response.reason_phrase}"
                error = httpx.HTTPStatusError(
                    f"{reason} for {method} {shown}", request=request, response=response
                )
                transient = status >= 500
            reason = _one_line(redact_text(redact_urls_in(reason, self.rules), secrets))
            if not transient or attempt == attempts or self._closed.is_set():
                raise self._failure(error, method, shown, status, attempt, reason, secrets)
            delay = self.backoff * 2 ** (attempt - 1)
            if time.monotonic() + delay >= until:
                reason += f"; no time for a retry within deadline_seconds={self.deadline_seconds:g}"
                raise self._failure(error, method, shown, status, attempt, reason, secrets)
            logger.warning(
                "%s: %s %s failed (%s); retry %d of %d in %.2f s",
                self.site,
                method,
                shown,
                reason,
                attempt,
                self.retries,
                delay,
            )
            if self._closed.wait(delay):
                raise self._failure(error, method, shown, status, attempt, reason, secrets)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self, client: httpx.Client, request: httpx.Request, until: float, need_body: bool
    ) -> httpx.Response:
        """One attempt: send, then stream the body within the limits; the answer is complete."""
        with deadline(until):
            response = client.send(request, stream=True)
            try:
                if response.is_success:
                    body = read_body(response, self.max_body_bytes, truncate=not need_body)
                else:  # enough of an error answer for the message
                    body = read_body(response, _ERROR_BODY, truncate=True)
            finally:
                response.close()
        return decoded_response(response, body)

    def _too_large(
        self, error: BodyTooLarge, method: str, shown: str, attempts: int
    ) -> HttpBodyTooLargeError:
        size = (
            f"declares {error.declared:,} bytes"
            if error.declared is not None
            else f"went past it after {error.read:,} bytes (decoded)"
        )
        message = (
            f"{self.site}: {method} {shown} answered with a body over "
            f"max_body_bytes={self.max_body_bytes:,} ({size}); reading stopped. Raise "
            f"{self.site.field('max_body_bytes').partition(': ')[2]} if such a body is expected"
        )
        return HttpBodyTooLargeError(message, self.site.pipeline, method, shown, None, attempts)

    def _late(
        self,
        error: httpx.TimeoutException,
        method: str,
        shown: str,
        attempts: int,
        secrets: list[str],
    ) -> HttpDeadlineError:
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        message = (
            f"{self.site}: {method} {shown} did not complete within "
            f"deadline_seconds={self.deadline_seconds:g}{tries}: the server is too slow "
            f"(each read waits at most timeout={self.timeout:g} s; the deadline bounds the "
            "whole request)"
        )
        self._log_traceback(error, message, secrets)
        failure = HttpDeadlineError(message, self.site.pipeline, method, shown, None, attempts)
        failure.__cause__ = error
        return failure

    def _failure(
        self,
        error: httpx.HTTPError,
        method: str,
        shown: str,
        status: int | None,
        attempts: int,
        reason: str,
        secrets: list[str],
    ) -> HttpRequestError:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if isinstance(error, httpx.HTTPStatusError):
            body = _one_line(redact_text(error.response.text, secrets))
            detail = f"answered {reason}{tries}" + (f": {body[:300]}" if body else "")
        else:
            detail = f"failed{tries}: {reason}"
            if _in_chain(error, ssl.SSLError) or _certificate_problem(error):
                detail += "; check verify=... (True, False or a CA bundle path) and cert=..."
        message = f"{self.site}: {method} {shown} {detail}"
        self._log_traceback(error, message, secrets)
        failure = HttpRequestError(message, self.site.pipeline, method, shown, status, attempts)
        failure.__cause__ = error
        return failure

    def _log_traceback(self, error: BaseException, message: str, secrets: list[str]) -> None:
        """The third-party traceback of a failure, at DEBUG (the error itself is one line)."""
        if logger.isEnabledFor(logging.DEBUG):
            text = "".join(traceback.format_exception(error))
            text = redact_text(redact_urls_in(text, self.rules), secrets)
            logger.debug("%s; the httpx traceback:\n%s", message, text.rstrip())

    def close(self) -> None:
        """Close the client (if this object made it); a retry waiting for its turn gives up."""
        self._closed.set()
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._owns_client:
            client.close()


def _transient(error: httpx.RequestError) -> bool:
    """Worth retrying: timeouts, network errors and dropped connections, not bad certificates."""
    retriable = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    return isinstance(error, retriable) and not _certificate_problem(error)


def _certificate_problem(error: BaseException) -> bool:
    """The server's certificate failed verification: retrying cannot help."""
    return _in_chain(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
        error
    )


def _in_chain(error: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _secrets(request: httpx.Request, rules: Redaction | None = None) -> list[str]:
    """The secret values a request carries, to mask them wherever they might show up."""
    found = [value for name, value in request.headers.items() if is_secret_header(name, rules)]
    found += [
        value for name, value in request.url.params.multi_items() if is_secret_param(name, rules)
    ]
    found += [request.url.username, request.url.password]  # all of an http URL's user info
    found += path_secrets(request.url.path, rules)
    for name, value in request.headers.items():  # Basic auth from user info or auth=
        if name.lower() == "authorization" and " " in value:
            found.append(value.partition(" ")[2])
    return [value for value in found if len(value) >= 3]  # masking "1" everywhere helps no one


def _one_line(text: str) -> str:
    """``text`` on one line: line breaks and runs of spaces become one space."""
    return " ".join(text.split())
