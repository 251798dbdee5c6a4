"""The HTTP senders: :class:`HttpSender`, behind ``send("http_post")`` and ``send("http_put")``.

Each item (or its ``label_to_send`` value) is sent as a JSON body; ``bytes`` are sent as they
are. An answer other than 2xx is an error, never a silent success: connection errors, timeouts
and 5xx answers are retried with capped exponential backoff first, 4xx answers are not (sending
the same request again would get the same answer). Retries, TLS, bounded answers and the client
are those of the HTTP connector (:class:`~._requester.Requester`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..._redact import redact_url
from ..._retry import Retry
from ...abc import Sender
from ...senders._payload import check_label, json_bytes, payload
from ._options import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    Cert,
    Site,
    Verify,
    check_headers,
    check_method,
    check_url,
)
from ._requester import MAX_BODY_BYTES, REQUESTER_OPTIONS, requester_from

__all__ = ["HttpSender"]

_KINDS = {"POST": "http_post", "PUT": "http_put", "PATCH": "http_patch"}


class HttpSender(Sender):
    """Sends each item to ``destination`` as a JSON body (POST by default, or PUT or PATCH).

    Args:
        destination: the URL to send to.
        method: POST, PUT or PATCH.
        label_to_send: send only this key of each item (a dict); without it, the whole item.
        headers: sent with every request (values of secret headers never appear in logs).
        timeout, retries, backoff, verify, cert, client, max_body_bytes,
            deadline_seconds: see :class:`~weirflow.connectors.http.Requester`. The limits
            apply to the answer: a sender reads at most ``max_body_bytes`` of it (the rest
            is not needed, not an error).
        redact: more names and path templates to mask in logs, errors and ``repr()``, as
            for :class:`weirflow.connectors.http.HttpSource`, e.g. ``redact=["/hooks/*/*"]``.
        pipeline: the pipeline's name, shown in errors and log lines.

    Raises:
        ConfigError: a bad option, at construction.

    Example:
        >>> from weirflow.testing import LocalHTTPServer
        >>> with LocalHTTPServer() as server:
        ...     server.route("POST", "/reports", (201, {"stored": True}))
        ...     sender = HttpSender(f"{server.url}/reports", label_to_send="summary")
        ...     sender.send({"summary": {"mean": 4.5}, "raw": [4, 5]})
        ...     sender.close()
        ...     received = server.requests[0].json
        >>> received
        {'mean': 4.5}
    """

    OPTIONS = ("destination", "label_to_send", "headers", *REQUESTER_OPTIONS)
    """The options ``send("http_post", ...)`` accepts."""

    def __init__(
        self,
        destination: str,
        *,
        method: str = "POST",
        label_to_send: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        retries: int | Retry = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        verify: Verify = True,
        cert: Cert | None = None,
        pipeline: str = "?",
        client: httpx.Client | None = None,
        max_body_bytes: int | None = MAX_BODY_BYTES,
        deadline_seconds: float | None = None,
        redact: Any = None,
    ) -> None:
        kind = _KINDS.get(method.upper(), "http_post") if isinstance(method, str) else "http_post"
        site = Site(pipeline, f"send({kind!r}, {{name}}=...)")
        self.method = check_method(method, site, tuple(_KINDS))
        self.destination = check_url(destination, site, "destination")
        self.label_to_send = check_label(label_to_send, site)
        self.headers = check_headers(headers, site)
        self._typed = any(name.lower() == "content-type" for name in self.headers)
        self.pipeline = pipeline
        self._where = f"pipeline {pipeline!r}: send({kind!r})"
        self._http = requester_from(site, locals())

    def send(self, item: Any) -> None:
        """Send one item; raise if it was not accepted after the retries.

        Raises:
            PayloadError: the item lacks ``label_to_send`` or is not JSON-serialisable.
            HttpRequestError: the request failed or the answer was not 2xx.
        """
        body = payload(item, self.label_to_send, self._where, self.pipeline)
        if isinstance(body, bytes | bytearray):  # raw bytes go as they are
            content, content_type = bytes(body), "application/octet-stream"
        else:
            content = json_bytes(body, self._where, self.pipeline, "send")
            content_type = "application/json"
        headers = self.headers if self._typed else {**self.headers, "content-type": content_type}
        self._http.request(
            self.method, self.destination, headers=headers, content=content, need_body=False
        )

    def close(self) -> None:
        """Close the HTTP client (not one given as ``client=``)."""
        self._http.close()

    def __repr__(self) -> str:
        return (
            f"HttpSender({redact_url(self.destination, self._http.rules)!r}, "
            f"method={self.method!r}, "
            f"pipeline={self.pipeline!r})"
        )
