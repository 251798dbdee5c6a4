"""HTTP, both directions: the polling connector, the senders, their shared requester and errors.

No extra to install: httpx is a dependency of weirflow. What lives here:

- :class:`HttpSource` (``_source.py``): requests a URL once per pipeline run and yields the
  decoded body (``FlowBuilder...with_http_connector(...)``).
- :class:`HttpSender` (``_sender.py``): sends each item as a JSON body, behind
  ``send("http_post", destination=...)`` and ``send("http_put", ...)``.
- :class:`Requester` (``_requester.py``): what both do the same way: one ``httpx.Client`` per
  object, made on first use and safe to share between worker threads; one retry loop driven by
  a :class:`weirflow.Retry` (capped exponential backoff) on connection errors, timeouts and 5xx
  answers (never on 4xx answers, nor on a certificate that fails verification); TLS options
  (``_options.py``); every answer bounded, its body (decoded) by ``max_body_bytes`` (100 MiB; a
  gzip bomb stops at the limit) and the whole request, retries included, by
  ``deadline_seconds`` (``5 * timeout``), see ``_body.py``.
- The errors (defined in :mod:`weirflow._errors`, re-exported here), all under
  :class:`HttpRequestError`: one line naming the
  pipeline, the method and the URL with its credentials masked (:mod:`weirflow._redact`;
  ``redact=[...]`` adds names and path patterns); the httpx exception is their ``__cause__``
  and its traceback goes to DEBUG (``_failures.py``).

Options are checked when an object is made, whether by the builder or directly, so mistakes
surface as :class:`~weirflow.ConfigError` naming the pipeline and the field. Importing this
package adds a :class:`~weirflow._redact.RedactingFilter` to the ``httpx`` and ``httpcore``
loggers (httpx logs each request's full URL at INFO level).

Example:
    >>> from weirflow.connectors.http import HttpSender, HttpSource
    >>> HttpSource("http://127.0.0.1:8025/numbers?apikey=k3y", pipeline="feed")
    HttpSource('http://127.0.0.1:8025/numbers?apikey=***', method='GET', pipeline='feed')
"""

from __future__ import annotations

from ..._errors import HttpBodyTooLargeError as HttpBodyTooLargeError
from ..._errors import HttpDeadlineError as HttpDeadlineError
from ..._errors import HttpDecodeError as HttpDecodeError
from ..._errors import HttpRequestError as HttpRequestError
from ._options import METHODS as METHODS
from ._options import Site as Site
from ._requester import Requester as Requester
from ._sender import HttpSender as HttpSender
from ._source import HttpSource as HttpSource

__all__ = [
    "METHODS",
    "HttpBodyTooLargeError",
    "HttpDeadlineError",
    "HttpDecodeError",
    "HttpRequestError",
    "HttpSender",
    "HttpSource",
    "Requester",
    "Site",
]
