"""Tracebacks that start at the user's code.

A worker's exception passes through the engine on its way out (the executor, the worker loop,
the operation, the call with injected arguments), and its traceback records each of those
frames. :func:`user_traceback` drops them from the front: what the user reads first is their own
file, line and source text. The rule: if a frame of the user's own code (not weirflow, not the
standard library, not an installed package) is in the traceback, it starts there; otherwise (an
error inside a weirflow storage or connector, say) only the engine's own frames
(``weirflow/_runtime``) are dropped. The callers log the full traceback at DEBUG.
"""

from __future__ import annotations

import os
import sysconfig
from types import TracebackType

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_ENGINE = os.path.join(_PACKAGE, "_runtime") + os.sep
_LIBRARIES = tuple(
    {
        os.path.abspath(path) + os.sep
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(key))
    }
)


def _filename(node: TracebackType) -> str:
    return os.path.abspath(node.tb_frame.f_code.co_filename)


def _is_user_code(node: TracebackType) -> bool:
    name = node.tb_frame.f_code.co_filename
    if name.startswith("<frozen"):
        return False
    path = _filename(node)
    return not path.startswith(_PACKAGE) and not path.startswith(_LIBRARIES)


def user_traceback(traceback: TracebackType | None) -> TracebackType | None:
    """The part of ``traceback`` from the first frame the user should read."""
    nodes: list[TracebackType] = []
    node = traceback
    while node is not None:
        nodes.append(node)
        node = node.tb_next
    if not nodes:
        return traceback
    start = next((i for i, node in enumerate(nodes) if _is_user_code(node)), None)
    if start is None:
        start = next(
            (i for i, node in enumerate(nodes) if not _filename(node).startswith(_ENGINE)), 0
        )
    return nodes[start]


def trim_to_user_code(error: BaseException) -> BaseException:
    """Make ``error``'s traceback start at the user's code (see :func:`user_traceback`)."""
    return error.with_traceback(user_traceback(error.__traceback__))
