"""The retry policy: a small frozen value written once and used wherever something is tried again.

:class:`Retry` says how many times an operation is attempted and how long to wait between
attempts (exponential backoff with a cap). A flow's stages use it for per-item retries
(``with_core_logic(..., retries=, retry_backoff=)``); anything else that retries can reuse it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._errors import ConfigError


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
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ConfigError(f"Retry: attempts must be a whole number >= 1, got {self.attempts!r}")
        if self.attempts < 1 or self.attempts > 1000:
            raise ConfigError(f"Retry: attempts must be between 1 and 1000, got {self.attempts!r}")
        for name in ("backoff", "cap"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigError(
                    f"Retry: {name} must be a finite number of seconds >= 0, got {value!r}"
                )

    @classmethod
    def from_options(cls, retries: int, backoff: float, where: str = "") -> Retry:
        """The policy for ``retries=`` (tries after the first) and ``retry_backoff=``."""
        prefix = f"{where}: " if where else ""
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries < 1000:
            raise ConfigError(
                f"{prefix}retries must be a whole number from 0 to 999, got {retries!r}"
            )
        if (
            isinstance(backoff, bool)
            or not isinstance(backoff, (int, float))
            or not math.isfinite(backoff)
            or backoff < 0
        ):
            raise ConfigError(
                f"{prefix}retry_backoff must be a finite number of seconds >= 0, got {backoff!r}"
            )
        return cls(attempts=retries + 1, backoff=float(backoff))

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1 for the first)."""
        return float(min(self.backoff * 2.0 ** min(attempt - 1, 60), self.cap))


NO_RETRY = Retry()
