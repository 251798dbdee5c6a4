"""How a failed HTTP attempt is judged and told: transient or not, and the one-line error.

:func:`transient` says whether trying again can help (timeouts, network errors and dropped
connections can; a certificate that fails verification cannot); :func:`request_secrets` lists
the secret values a request carries, so that every message and log line masks them;
:class:`RequestFailures` builds the errors of :mod:`._errors` for one request, each message one
line naming the site, the method and the redacted URL, and logs the third-party traceback at
DEBUG.
"""

from __future__ import annotations

import logging
import ssl
import traceback
from dataclasses import dataclass

import httpx

from ..._errors import HttpBodyTooLargeError, HttpDeadlineError, HttpDecodeError, HttpRequestError
from ..._redact import (
    Redaction,
    is_secret_header,
    is_secret_param,
    path_secrets,
    redact_text,
    redact_urls_in,
)
from ._options import Site

logger = logging.getLogger("weirflow.http")


def transient(error: httpx.RequestError) -> bool:
    """Worth retrying: timeouts, network errors and dropped connections, not bad certificates."""
    retriable = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    return isinstance(error, retriable) and not certificate_problem(error)


def certificate_problem(error: BaseException) -> bool:
    """The server's certificate failed verification: retrying cannot help."""
    return _in_chain(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
        error
    )


def request_secrets(request: httpx.Request, rules: Redaction | None = None) -> list[str]:
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


def one_line(text: str) -> str:
    """``text`` on one line: line breaks and runs of spaces become one space."""
    return " ".join(text.split())


@dataclass(frozen=True)
class RequestFailures:
    """How one request's failures are told: where, the method, the URL and what to mask.

    Each method builds the error for one way a request fails, its message one line naming
    the site, the method and the redacted URL; the third-party traceback goes to DEBUG.
    """

    site: Site
    method: str
    shown: str  # the URL with its credentials masked
    rules: Redaction
    secrets: tuple[str, ...]

    def masked(self, text: str) -> str:
        """``text`` on one line, its URLs redacted and the request's secret values masked."""
        return one_line(redact_text(redact_urls_in(text, self.rules), list(self.secrets)))

    def failed(
        self, error: httpx.HTTPError, status: int | None, attempts: int, reason: str
    ) -> HttpRequestError:
        """The request failed for good: a non-2xx answer, or no answer at all."""
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if isinstance(error, httpx.HTTPStatusError):
            body = one_line(redact_text(error.response.text, list(self.secrets)))
            detail = f"answered {reason}{tries}" + (f": {body[:300]}" if body else "")
        else:
            detail = f"failed{tries}: {reason}"
            if _in_chain(error, ssl.SSLError) or certificate_problem(error):
                detail += "; check verify=... (True, False or a CA bundle path) and cert=..."
        message = f"{self.site}: {self.method} {self.shown} {detail}"
        self._log_traceback(error, message)
        failure = HttpRequestError(
            message, self.site.pipeline, self.method, self.shown, status, attempts
        )
        failure.__cause__ = error
        return failure

    def late(
        self, error: httpx.TimeoutException, attempts: int, deadline: float, timeout: float
    ) -> HttpDeadlineError:
        """The deadline (``deadline_seconds``) passed during an attempt."""
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        message = (
            f"{self.site}: {self.method} {self.shown} did not complete within "
            f"deadline_seconds={deadline:g}{tries}: the server is too slow "
            f"(each read waits at most timeout={timeout:g} s; the deadline bounds the "
            "whole request)"
        )
        self._log_traceback(error, message)
        failure = HttpDeadlineError(
            message, self.site.pipeline, self.method, self.shown, None, attempts
        )
        failure.__cause__ = error
        return failure

    def too_large(
        self, attempts: int, limit: int | None, read: int, declared: int | None
    ) -> HttpBodyTooLargeError:
        """The body passed ``max_body_bytes`` (``limit``) after ``read`` bytes, or as
        ``declared`` by its Content-Length."""
        size = (
            f"declares {declared:,} bytes"
            if declared is not None
            else f"went past it after {read:,} bytes (decoded)"
        )
        message = (
            f"{self.site}: {self.method} {self.shown} answered with a body over "
            f"max_body_bytes={limit:,} ({size}); reading stopped. Raise "
            f"{self.site.field('max_body_bytes').partition(': ')[2]} if such a body is expected"
        )
        return HttpBodyTooLargeError(
            message, self.site.pipeline, self.method, self.shown, None, attempts
        )

    def undecodable(self, attempts: int, problem: Exception) -> HttpDecodeError:
        """A gzip or deflate body is damaged."""
        return HttpDecodeError(
            f"{self.site}: {self.method} {self.shown} answered with a body that cannot be "
            f"decoded: {problem}",
            self.site.pipeline,
            self.method,
            self.shown,
            None,
            attempts,
        )

    def _log_traceback(self, error: BaseException, message: str) -> None:
        """The third-party traceback of a failure, at DEBUG (the error itself is one line)."""
        if logger.isEnabledFor(logging.DEBUG):
            text = "".join(traceback.format_exception(error))
            text = redact_text(redact_urls_in(text, self.rules), list(self.secrets))
            logger.debug("%s; the httpx traceback:\n%s", message, text.rstrip())


def _in_chain(error: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
