"""Connectors: the sources a pipeline's items come from.

Each connector is a small :class:`weirflow._interfaces.Source` in a module of its own, imported
when a pipeline first uses it. :mod:`weirflow.connectors.http` polls an HTTP endpoint each run
(``with_http_connector``).
"""

from __future__ import annotations
