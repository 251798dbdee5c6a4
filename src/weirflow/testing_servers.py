"""Deprecated home of ``reachable`` and ``require_server``: import them from
:mod:`weirflow.testing` (``reachable``) and :mod:`weirflow.testing.pytest_plugin`
(``require_server``, which needs pytest).

This module only re-exports those names, so code written against it keeps working.
"""

from .testing._servers import reachable as reachable
from .testing.pytest_plugin import require_server as require_server

__all__ = ["reachable", "require_server"]
