"""The errors of the HTTP connector and senders, all under :class:`HttpRequestError`.

::

    WeirflowError
     └── HttpRequestError          a request failed for good (after its retries, or at once)
          ├── HttpDecodeError      the body cannot be decoded as asked (also a ValueError)
          ├── HttpBodyTooLargeError the body, decoded, is longer than max_body_bytes
          └── HttpDeadlineError    the request, retries included, passed deadline_seconds

Each carries the pipeline, the method, the URL with its credentials masked, the last status
and the number of attempts, and pickles with them (so it crosses from a worker process whole).
:class:`HttpRequestError` is the one class to join a common service-error base.
"""

from __future__ import annotations

from typing import Any

from ..._errors import WeirflowError

__all__ = ["HttpBodyTooLargeError", "HttpDeadlineError", "HttpDecodeError", "HttpRequestError"]


class HttpRequestError(WeirflowError):
    """An HTTP request failed for good: after its retries, or at once when retrying is useless.

    You get it for a connection that cannot be made, a timeout, or an answer other than 2xx
    once the retries are used up (4xx answers and failed certificate checks are not retried).
    The httpx exception (``httpx.ConnectError``, ``httpx.HTTPStatusError``...) is the
    ``__cause__``. The message and :attr:`url` never show credentials. Check the URL, the
    server, and ``verify``/``cert`` for TLS; raise ``retries`` for a flaky server.

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
    nested too deeply, or a damaged gzip body). Retrying would get the same body: use
    ``decode="text"`` or ``decode="bytes"`` to take the body as it is."""


class HttpBodyTooLargeError(HttpRequestError):
    """An answer's body, decoded, is longer than ``max_body_bytes``; it was not read further.

    Raise ``max_body_bytes`` if the body is expected to be that big. Not retried.
    """


class HttpDeadlineError(HttpRequestError):
    """The request, retries included, did not complete within ``deadline_seconds``.

    A server that answers very slowly (say a byte a second, each read within ``timeout``)
    ends here instead of holding the pipeline. Raise ``deadline_seconds`` for slow, big bodies.
    """
