"""The HTTP senders' public name under ``weirflow.senders``: :class:`HttpSender` lives in
:mod:`weirflow.connectors.http` (with the HTTP connector); ``send("http_post")`` and
``send("http_put")`` make one."""

from __future__ import annotations

from ..connectors.http import HttpSender as HttpSender

__all__ = ["HttpSender"]
