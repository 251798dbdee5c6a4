"""One call of the ``sql`` storage: its attempts, and the errors when the database is away.

A call (a save or a load) is tried as the storage's :class:`~weirflow.Retry` says (the one
retry loop, :meth:`Retry.run`): an :class:`Attempt` records whether the database was asked to
commit and the watch's entry for it; an attempt that loses its connection raises
:class:`ConnectionLost` (retried); once the retries are spent :func:`unavailable` is the
:class:`~weirflow.DatabaseUnavailableError`. Which errors count as a lost connection is
:mod:`weirflow.storages._sqlretry`'s call.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL

from .._errors import DatabaseUnavailableError
from ._sqlengine import masked
from ._sqloptions import seconds_text


class ConnectionLost(Exception):
    """Attempt number ``attempt`` lost its connection; ``reason`` says why (no secrets)."""

    def __init__(self, reason: str, attempt: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempt = attempt


class Attempt:
    """What one attempt of a call got to: whether the database was asked to commit."""

    __slots__ = ("call", "committing")

    def __init__(self) -> None:
        self.committing = False
        self.call: Any = None  # the watch's entry (database servers only)

    def unbounded(self) -> None:
        """The call runs DDL now: the watch does not give it up (it still warns)."""
        if self.call is not None:
            self.call.bounded = False

    def watch(self, connection: Any) -> None:
        """The call now runs on ``connection`` (a SQLAlchemy ``Connection``)."""
        if self.call is not None:
            self.call.connection = connection.connection.driver_connection


def unavailable(
    site: str,
    storage: Any,
    action: str,
    attempts: int,
    reason: str,
    unconfirmed: bool,
    closed: bool,
) -> DatabaseUnavailableError:
    """The error once the retries are spent: what was tried, why it failed, what may be saved.

    ``storage`` gives its ``pipeline``, ``table`` and ``url`` (masked in the error).
    """
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if closed:
        tries += " (stopped: the storage was closed or interrupted)"
    if action == "loading":
        outcome = ""
    elif unconfirmed:
        outcome = (
            "; the connection broke while the database was committing, so these records "
            "may have been saved"
        )
    else:
        outcome = "; nothing of it was committed"
    message = (
        f"{site}: {action} failed after {tries}: the database is unreachable ({reason}){outcome}"
    )
    return DatabaseUnavailableError(
        message, storage.pipeline, storage.table, masked(storage.url), attempts
    )


def give_up_after(url: URL, statement_timeout: float | None) -> float | None:
    """Seconds after which a call is abandoned: no statement may run that long."""
    if not statement_timeout or url.get_backend_name() != "postgresql":
        return None
    return 2 * statement_timeout + 1


def limits(url: URL, lock_timeout: float | None, statement_timeout: float | None) -> str:
    """The server-side limits a call runs under, for the watch's log lines."""
    if url.get_backend_name() != "postgresql":
        return "no server-side timeout"
    parts = [
        f"{name} {seconds_text(value)}" if value else f"no {name}"
        for name, value in (
            ("lock_timeout", lock_timeout),
            ("statement_timeout", statement_timeout),
        )
    ]
    return ", ".join(parts)


def limit_hint(
    limit: str, table: str, lock_timeout: float | None, statement_timeout: float | None
) -> str:
    """What ended a statement the server cancelled (``lock_timeout`` or ``statement_timeout``)."""
    if limit == "lock_timeout":
        return (
            f"another session held a lock on table {table!r} for longer than "
            f"lock_timeout ({seconds_text(lock_timeout)})"
        )
    return f"the statement ran longer than statement_timeout ({seconds_text(statement_timeout)})"
