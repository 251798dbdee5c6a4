"""Argument checks shared by everything that validates user input at build time.

Each ``check_*`` function returns the value (normalised: an ``int`` or a ``float``) when it is
acceptable and raises ``error`` (by default :class:`~weirflow.InvalidArgumentError`, a
``ValueError``) otherwise, with a message naming where the value was given (``where``, e.g.
``"stage 'thread.map(f)'"``), the field, what is accepted and what was received. Booleans are
never numbers here (``workers=True`` is a mistake, not 1); NaN and the infinities are never
accepted, so a bad number fails when the stage or flow is made, not as a busy loop or an
``OverflowError`` at run time.

Example:
    >>> from weirflow._checks import check_positive_number
    >>> check_positive_number(2, "timeout", allow_zero=True)
    2.0
    >>> try:
    ...     check_positive_number(float("nan"), "timeout", where="stage 'x'")
    ... except ValueError as error:
    ...     print(error)
    stage 'x': timeout must be a finite number > 0, got nan
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ._errors import InvalidArgumentError

ErrorType = type[Exception]


def _fail(error: ErrorType, where: str | None, field: str, wanted: str, value: Any) -> Exception:
    prefix = f"{where}: " if where else ""
    return error(f"{prefix}{field} must be {wanted}, got {value!r}")


def _readable(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_number(
    value: Any,
    field: str,
    *,
    where: str | None = None,
    allow_none: bool = False,
    allow_zero: bool = False,
    maximum: float | None = None,
    meaning: str = "",
    error: ErrorType = InvalidArgumentError,
) -> float | None:
    """A finite number > 0 (>= 0 with ``allow_zero``), at most ``maximum``, as a ``float``.

    Args:
        value: what the user gave.
        field: the argument's name, as the user wrote it (``"timeout"``).
        where: the stage, pipeline or flow the argument belongs to, for the message.
        allow_none: accept ``None`` (returned as is).
        allow_zero: accept 0 (for arguments where 0 means "none" or "at once").
        maximum: the largest acceptable value, if any.
        meaning: added to the message in parentheses, e.g. ``"0 = no timeout"``.
        error: the exception class to raise.

    Returns:
        The value as a float, or ``None``.
    """
    if value is None and allow_none:
        return None
    lowest = ">= 0" if allow_zero else "> 0"
    wanted = f"a finite number {lowest}"
    if maximum is not None:
        wanted += f" and at most {_readable(maximum)}"
    if allow_none:
        meaning = ", ".join(part for part in (meaning, "or None") if part)
    if meaning:
        wanted += f" ({meaning})"
    if not _is_number(value):
        raise _fail(error, where, field, wanted, value)
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise _fail(error, where, field, wanted, value)
    if maximum is not None and number > maximum:
        raise _fail(error, where, field, wanted, value)
    return number


def check_whole_number(
    value: Any,
    field: str,
    *,
    where: str | None = None,
    minimum: int = 0,
    maximum: int | None = None,
    allow_none: bool = False,
    meaning: str = "",
    error: ErrorType = InvalidArgumentError,
) -> int | None:
    """A whole number (an ``int``, not a bool or a float) between ``minimum`` and ``maximum``.

    Args:
        value: what the user gave.
        field: the argument's name, as the user wrote it (``"workers"``).
        where: the stage, pipeline or flow the argument belongs to, for the message.
        minimum: the smallest acceptable value.
        maximum: the largest acceptable value, if any.
        allow_none: accept ``None`` (returned as is).
        meaning: added to the message in parentheses, e.g. ``"0 = unbounded"``.
        error: the exception class to raise.

    Returns:
        The value as an int, or ``None``.
    """
    if value is None and allow_none:
        return None
    wanted = f"a whole number >= {minimum}"
    if maximum is not None:
        wanted = f"a whole number from {minimum} to {maximum:,}"
    if meaning:
        wanted += f" ({meaning})"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(error, where, field, wanted, value)
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise _fail(error, where, field, wanted, value)
    return number
