"""The retry policy: a small frozen value written once and used wherever something is tried again.

:class:`Retry` says how many times an operation is attempted and how long to wait between
attempts (exponential backoff with a cap), and :meth:`Retry.run` is the one loop that follows
it: the HTTP requester, the MQTT sender, the SQL storage and a pipeline's restarts all go
through it (each saying which errors are worth another attempt, what to log before a wait, and
what ends a wait early). A flow's stages use the same value for per-item retries
(``with_core_logic(..., retries=, retry_backoff=)``). :func:`retry_policy` reads a connector's
``retries=``/``backoff=`` options (``retries`` may be a ``Retry``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ._checks import Where, check_seconds, is_finite, is_whole
from ._errors import ConfigError, InvalidArgumentError
from ._hints import shown

T = TypeVar("T")

DEFAULT_BACKOFF = 0.5
"""A connector's default ``backoff``, in seconds: waits of 0.5 s, then 1 s..."""
MAX_RETRIES = 999
"""The most ``retries`` a connector accepts (a :class:`Retry` makes at most 1000 attempts)."""
BACKOFF_CAP = 30.0
"""The longest wait between two attempts made from ``retries``/``backoff`` (or ``backoff`` if
that is longer): the doubling stops there."""


@dataclass(frozen=True)
class Retry:
    """How often to try, and how long to wait between tries.

    Attributes:
        attempts: how many times in all an operation is tried (1: no retry).
        backoff: the wait in seconds before the second attempt; it doubles after each one.
        cap: the longest wait in seconds.

    Example:
        >>> from weirflow import Retry
        >>> policy = Retry(attempts=4, backoff=0.5, cap=1.5)
        >>> [policy.delay(n) for n in (1, 2, 3)]
        [0.5, 1.0, 1.5]
        >>> Retry.from_options(retries=2, backoff=0.1).attempts
        3
    """

    attempts: int = 1
    backoff: float = 0.5
    cap: float = 30.0

    def __post_init__(self) -> None:
        if not is_whole(self.attempts):
            raise ConfigError(f"Retry: attempts must be a whole number >= 1, got {self.attempts!r}")
        if self.attempts < 1 or self.attempts > 1000:
            raise ConfigError(f"Retry: attempts must be between 1 and 1000, got {self.attempts!r}")
        for name in ("backoff", "cap"):
            value = getattr(self, name)
            if not is_finite(value) or value < 0:
                raise ConfigError(
                    f"Retry: {name} must be a finite number of seconds >= 0, got {value!r}"
                )

    @classmethod
    def from_options(cls, retries: int, backoff: float, where: str = "") -> Retry:
        """The policy for ``retries=`` (tries after the first) and ``retry_backoff=``."""
        prefix = f"{where}: " if where else ""
        if not is_whole(retries) or not 0 <= retries <= MAX_RETRIES:
            raise ConfigError(
                f"{prefix}retries must be a whole number from 0 to 999, got {retries!r}"
            )
        if not is_finite(backoff) or backoff < 0:
            raise ConfigError(
                f"{prefix}retry_backoff must be a finite number of seconds >= 0, got {backoff!r}"
            )
        return cls(attempts=retries + 1, backoff=float(backoff))

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1 for the first)."""
        return float(min(self.backoff * 2.0 ** min(attempt - 1, 60), self.cap))

    def run(
        self,
        attempt: Callable[[int], T],
        *,
        retryable: Callable[[Exception], bool] = lambda error: True,
        before_wait: Callable[[Exception, int, float], None] | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> T:
        """The retry loop: ``attempt(1)``, ``attempt(2)``... until one returns.

        An attempt that raises an ``Exception`` for which ``retryable(error)`` holds is tried
        again after :meth:`delay`, unless it was the last one; any other error, and the last
        one, is raised as it is. Before each wait ``before_wait(error, attempt, delay)`` is
        called (to log it; raising there ends the loop with that error); ``wait(seconds)``
        waits and returns True when it was cut short (a ``close()``, the flow stopping): the
        last error is then raised. By default the wait is a plain sleep.

        Example:
            >>> tries = []
            >>> def flaky(attempt):
            ...     tries.append(attempt)
            ...     if attempt < 3:
            ...         raise ConnectionError("refused")
            ...     return "ok"
            >>> Retry(attempts=3, backoff=0).run(flaky), tries
            ('ok', [1, 2, 3])
        """
        pause = wait if wait is not None else _sleep
        number = 1
        while True:
            try:
                return attempt(number)
            except Exception as error:
                if number >= self.attempts or not retryable(error):
                    raise
                delay = self.delay(number)
                if before_wait is not None:
                    before_wait(error, number, delay)
                if pause(delay):
                    raise
            number += 1


NO_RETRY = Retry()


def retry_policy(
    retries: Any, backoff: Any, where: Where, default_backoff: float = DEFAULT_BACKOFF
) -> Retry:
    """The retry policy of a connector, from its ``retries`` and ``backoff`` options.

    ``retries`` is a :class:`Retry` (then ``backoff`` stays at its default), or the number of
    tries after the first (0 to :data:`MAX_RETRIES`), ``backoff`` then being the wait before the
    first retry, doubled for each next one up to :data:`BACKOFF_CAP` (or ``backoff`` itself, if
    longer).

    Example:
        >>> policy = retry_policy(3, 20.0, Where("p"))
        >>> policy.attempts, [policy.delay(n) for n in (1, 2, 3)]
        (4, [20.0, 30.0, 30.0])
        >>> retry_policy(Retry(attempts=2, backoff=1, cap=1), 0.5, Where("p")).attempts
        2
    """
    if isinstance(retries, Retry):
        if backoff != default_backoff:
            raise InvalidArgumentError(
                f"{where.field('backoff')}: the Retry given as retries= has its own backoff "
                f"({retries.backoff:g}); leave backoff out, got {backoff!r}"
            )
        return retries
    if not is_whole(retries) or not 0 <= retries <= MAX_RETRIES:
        raise InvalidArgumentError(
            f"{where.field('retries')}: give a whole number >= 0 and at most {MAX_RETRIES}, or "
            f"a weirflow.Retry(attempts=..., backoff=..., cap=...), got {shown(retries)}"
        )
    pause = check_seconds(backoff, where, "backoff")
    return Retry(attempts=retries + 1, backoff=pause, cap=max(BACKOFF_CAP, pause))


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False
