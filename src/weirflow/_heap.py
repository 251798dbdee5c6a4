"""A service's start-up heap, kept out of the cyclic garbage collector's way.

What is imported and built before a flow starts (modules, classes, the flow itself) lives as
long as the process. A busy pipeline makes short-lived objects fast enough for full
collections to come many times a minute, each walking all of that again: on a stream of
small items that was a fifth of a consumer's time. :func:`freeze_startup_heap` collects once
and then moves everything alive to the permanent generation (``gc.freeze()``), which the
collector skips; reference counting still frees objects as usual, and cycles made later are
collected as before. ``weirflow run`` calls it once the flow is built, and each pipeline
process once its pipeline is loaded; the library never calls it in a program's own process
(which may still drop cycles it made before).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect, then leave what survives to reference counting alone.

    Example:
        >>> freeze_startup_heap()
        >>> gc.get_freeze_count() > 0
        True
        >>> gc.unfreeze()  # this example runs in a test process: give its objects back
    """
    gc.collect()
    gc.freeze()
