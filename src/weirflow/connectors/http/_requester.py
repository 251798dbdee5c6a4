"""The requester the HTTP connector and senders share: one client, one retry loop, bounded answers.

:class:`Requester` sends a request through one lazily made, thread-safe ``httpx.Client``. The
request path has one concern per step, each a private method named after it (httpx's
``send -> _send_handling_auth -> ...`` is the model)::

    request                          _build_request, then _redacted_call: what the messages
     │                               show and mask, and the deadline
     └ _send_handling_retries        the one retry loop, driven by a weirflow.Retry (capped)
        └ _send_handling_deadline    one attempt within the deadline; judge its outcome
           └ _send_single_request    send with the request's secrets masked in library logs
              ├ _read_body           bounded body reading (max_body_bytes)
              └ _decoded             the complete, decoded answer

Every request is bounded: its body is streamed and counted as it is decoded
(``max_body_bytes``) and the whole request, retries included, has a deadline
(``deadline_seconds``), see :mod:`._body`. Errors are one line naming the pipeline, the method
and the redacted URL (:mod:`._failures`); the httpx exception is their ``__cause__`` and its
traceback is logged at DEBUG.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..._errors import InvalidArgumentError
from ..._redact import Redaction, install_library_filters, masking, parse_rules, redact_url
from ..._retry import Retry
from ._body import BodyNotDecodable, BodyTooLarge, bounded_reads, deadline, decoded_response
from ._body import read_body as read_bounded
from ._failures import RequestFailures, certificate_problem, request_secrets, transient
from ._options import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    Cert,
    Site,
    Verify,
    check_max_body_bytes,
    check_seconds,
    retry_policy,
    tls_context,
)

__all__ = [
    "DEADLINE_TIMEOUTS",
    "MAX_BODY_BYTES",
    "REQUESTER_OPTIONS",
    "Requester",
    "requester_from",
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

# Made afresh in each process (and after unpickling): the client, its TLS context, the locks.
REQUESTER_OPTIONS = (
    "timeout",
    "retries",
    "backoff",
    "verify",
    "cert",
    "client",
    "max_body_bytes",
    "deadline_seconds",
    "redact",
)
"""The HTTP options a connector passes on to its :class:`Requester` as they are."""

_PER_PROCESS = ("_client", "_lock", "_closed", "tls")


@dataclass(frozen=True)
class _Call:
    """One request in progress: what it sends, what its messages show and must mask."""

    client: httpx.Client
    request: httpx.Request
    failures: RequestFailures  # its method, redacted URL, secrets: what its errors say
    until: float  # its deadline, on time.monotonic()'s clock
    need_body: bool


@dataclass(frozen=True)
class _Failed:
    """An attempt that failed in a way a retry may cure (``transient``) or not."""

    error: httpx.HTTPError
    status: int | None
    reason: str
    transient: bool


class _AttemptFailed(Exception):
    """Attempt number ``attempt`` failed so; ``reason`` is masked, ready for the message."""

    def __init__(self, outcome: _Failed, attempt: int, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.attempt = attempt
        self.reason = reason


class Requester:
    """Sends requests with retries through one lazily made, thread-safe ``httpx.Client``.

    The machinery the HTTP connector and senders share; use it to write another HTTP source
    or sender that behaves the same way. It pickles as its settings (a copy in a worker process
    makes its own client), unless it was given a ``client``.

    Args:
        site: the pipeline and the call the options came from (for messages).
        timeout: seconds allowed for each phase of a request (connect, write, read); > 0.
        retries: how many times a failed request is sent again, 0 to 999 (default 2); or the
            whole policy as a :class:`~weirflow.Retry` (its ``attempts`` count the first try,
            its ``cap`` bounds every wait; leave ``backoff`` out then).
        backoff: seconds before the first retry, doubled for each next one up to 30 s (or
            ``backoff``, if longer); >= 0 (default 0.5).
        verify: True, False or the path of a CA bundle (see :func:`._options.tls_context`).
        cert: a client certificate (see :func:`._options.tls_context`).
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

    Raises:
        ConfigError: a bad option (a non-finite or absurd number, a wrong type...).

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
        retries: int | Retry = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        verify: Verify = True,
        cert: Cert | None = None,
        client: httpx.Client | None = None,
        max_body_bytes: int | None = MAX_BODY_BYTES,
        deadline_seconds: float | None = None,
        redact: Any = None,
    ) -> None:
        self.timeout = check_seconds(timeout, site, "timeout", positive=True)
        self.retry = retry_policy(retries, backoff, site)
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
        self.max_body_bytes = check_max_body_bytes(max_body_bytes, site)
        self.deadline_seconds = (
            DEADLINE_TIMEOUTS * self.timeout
            if deadline_seconds is None
            else check_seconds(deadline_seconds, site, "deadline_seconds", positive=True)
        )
        try:
            self.rules: Redaction = parse_rules(redact)
        except ValueError as error:
            raise InvalidArgumentError(f"{site.field('redact')}: {error}") from None
        self.site = site
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
        secrets: tuple[str, ...] = (),
    ) -> httpx.Response:
        """Send one request, retrying transient failures; a non-2xx answer raises.

        Returns the answer with its whole body read and decoded (at most ``max_body_bytes``).
        With ``need_body=False`` (a sender, which only needs to know the request was
        accepted) a longer body is cut at the limit instead of being an error. ``secrets``:
        more values to mask in logs and errors (a password sent in the body, which a server's
        error answer may echo); the request's secret headers, query values and user info are
        masked anyway.

        Raises:
            HttpRequestError: the request failed for good; the httpx error is its cause.
            HttpBodyTooLargeError: the body is longer than ``max_body_bytes``.
            HttpDeadlineError: the request did not complete within ``deadline_seconds``.
            HttpDecodeError: a gzip or deflate body is damaged.
        """
        client = self.client()
        request = self._build_request(client, method, url, params, headers, json, data, content)
        call = self._redacted_call(client, request, need_body, secrets)
        return self._send_handling_retries(call)

    def _build_request(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        data: Any,
        content: bytes | None,
    ) -> httpx.Request:
        """The request: raw ``data`` goes as content, ``params`` merge into the URL's query."""
        if isinstance(data, str | bytes):  # raw bodies go as content (httpx wants it so)
            content, data = (data.encode() if isinstance(data, str) else data), None
        target = httpx.URL(url)
        if params:  # merged into the URL's own query (httpx would replace it)
            target = target.copy_merge_params(params)
        return client.build_request(
            method, target, headers=headers, json=json, data=data, content=content
        )

    def _redacted_call(
        self,
        client: httpx.Client,
        request: httpx.Request,
        need_body: bool,
        extra_secrets: tuple[str, ...] = (),
    ) -> _Call:
        """The request in progress: what its messages show and mask, and its deadline."""
        shown = redact_url(str(request.url), self.rules)
        secrets = (*request_secrets(request, self.rules), *(s for s in extra_secrets if s))
        failures = RequestFailures(self.site, request.method, shown, self.rules, secrets)
        until = time.monotonic() + self.deadline_seconds
        return _Call(client, request, failures, until, need_body)

    def _send_handling_retries(self, call: _Call) -> httpx.Response:
        """The attempts and waits :attr:`retry` says (its one loop), within the deadline."""

        def attempt(number: int) -> httpx.Response:
            outcome = self._send_handling_deadline(call, number)
            if isinstance(outcome, httpx.Response):
                return outcome
            raise _AttemptFailed(outcome, number, call.failures.masked(outcome.reason))

        def retryable(error: Exception) -> bool:
            return (
                isinstance(error, _AttemptFailed)
                and error.outcome.transient
                and not self._closed.is_set()
            )

        def before_wait(error: Exception, number: int, delay: float) -> None:
            assert isinstance(error, _AttemptFailed)
            if time.monotonic() + delay >= call.until:
                error.reason += (
                    f"; no time for a retry within deadline_seconds={self.deadline_seconds:g}"
                )
                raise error
            logger.warning(
                "%s: %s %s failed (%s); retry %d of %d in %.2f s",
                self.site,
                call.failures.method,
                call.failures.shown,
                error.reason,
                number,
                self.retry.attempts - 1,
                delay,
            )

        try:  # close() ends a waiting retry
            return self.retry.run(
                attempt, retryable=retryable, before_wait=before_wait, wait=self._closed.wait
            )
        except _AttemptFailed as failed:
            outcome = failed.outcome  # failed() makes the httpx error the cause
            error = call.failures.failed(
                outcome.error, outcome.status, failed.attempt, failed.reason
            )
            raise error  # noqa: B904

    def _send_handling_deadline(self, call: _Call, attempt: int) -> httpx.Response | _Failed:
        """One attempt within the deadline: the answer if 2xx, else what went wrong.

        Raises (not retried): :class:`HttpDeadlineError`, :class:`HttpBodyTooLargeError`,
        :class:`HttpDecodeError`.
        """
        try:
            with deadline(call.until):
                response = self._send_single_request(call)
        except httpx.RequestError as error:
            if isinstance(error, httpx.TimeoutException) and time.monotonic() >= call.until - 1e-3:
                late = call.failures.late(error, attempt, self.deadline_seconds, self.timeout)
                raise late from error
            reason = f"{type(error).__name__}: {error}"
            if certificate_problem(error):
                reason = f"the server's TLS certificate failed verification ({error})"
            return _Failed(error, None, reason, transient(error))
        except BodyTooLarge as error:
            limit = self.max_body_bytes
            raise call.failures.too_large(attempt, limit, error.read, error.declared) from None
        except BodyNotDecodable as error:
            raise call.failures.undecodable(attempt, error) from None
        if response.is_success:
            shown = f"{call.failures.method} {call.failures.shown}"
            logger.debug("%s: %s -> %d", self.site, shown, response.status_code)
            return response
        status = response.status_code
        reason = f"{status} {response.reason_phrase}"
        refused = httpx.HTTPStatusError(
            f"{reason} for {call.failures.method} {call.failures.shown}",
            request=call.request,
            response=response,
        )
        return _Failed(refused, status, reason, transient=status >= 500)

    def _send_single_request(self, call: _Call) -> httpx.Response:
        """Send once, the request's secrets masked in library logs; the answer is complete."""
        with masking(self.rules, call.failures.secrets):
            response = call.client.send(call.request, stream=True)
            try:
                body = self._read_body(response, call.need_body)
            finally:
                response.close()
        return self._decoded(response, body)

    def _read_body(self, response: httpx.Response, need_body: bool) -> bytes:
        """The decoded body within its bounds: ``max_body_bytes`` for a 2xx answer (cut there
        if the body is not needed), enough of an error answer's body for the message."""
        if response.is_success:
            return read_bounded(response, self.max_body_bytes, truncate=not need_body)
        return read_bounded(response, _ERROR_BODY, truncate=True)

    def _decoded(self, response: httpx.Response, body: bytes) -> httpx.Response:
        """A complete answer holding the decoded body (its encoding headers dropped)."""
        return decoded_response(response, body)

    def close(self) -> None:
        """Close the client (if this object made it); a retry waiting for its turn gives up."""
        self._closed.set()
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._owns_client:
            client.close()


def requester_from(site: Site, options: Mapping[str, Any]) -> Requester:
    """The :class:`Requester` for a connector's HTTP options.

    ``options`` is what the connector was given (its ``__init__``'s ``locals()``): the ones
    named in :data:`REQUESTER_OPTIONS` go to the requester, a connector without one (no
    ``client=``, say) leaves it at its default, the others are not looked at.

    Example:
        >>> requester = requester_from(Site("p"), {"timeout": 2.0, "retries": 0, "other": 1})
        >>> requester.timeout, requester.retry.attempts
        (2.0, 1)
    """
    return Requester(site, **{name: options[name] for name in REQUESTER_OPTIONS if name in options})
