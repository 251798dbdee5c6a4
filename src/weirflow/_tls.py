"""TLS contexts from certificate files, for every connector that takes TLS options.

:func:`ca_context` is the context that checks a server against the CA certificates at a path
(a PEM file, or a directory of them as ``c_rehash`` makes), or the system's trusted CAs without
one; the connectors wrap its ``OSError``/``ssl.SSLError`` in a ``ConfigError`` naming their
option.
"""

from __future__ import annotations

import os
import ssl


def ca_context(path: str | None) -> ssl.SSLContext:
    """A client context (TLS 1.2 or newer, certificates required) trusting the CAs at ``path``.

    Example:
        >>> ca_context(None).verify_mode == ssl.CERT_REQUIRED
        True
    """
    if path is None:
        return ssl.create_default_context()
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)
