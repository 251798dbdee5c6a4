"""Deprecated home of :class:`~weirflow.testing.LocalHTTPServer`: import it from
:mod:`weirflow.testing` (``from weirflow.testing import LocalHTTPServer, Request, Response``).

This module only re-exports those names, so code written against it keeps working.
"""

from .testing._http_server import LocalHTTPServer as LocalHTTPServer
from .testing._http_server import Request as Request
from .testing._http_server import Response as Response

__all__ = ["LocalHTTPServer", "Request", "Response"]
