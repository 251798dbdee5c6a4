"""When the database of a ``sql`` storage goes away: which errors are retried, and the error after.

A database server restarts, fails over, or drops off the network for a moment; the storage then
retries the whole call (a fresh transaction on a fresh connection) with exponential backoff
instead of failing the pipeline. :func:`is_connection_error` decides what is worth retrying:
errors of the connection (SQLAlchemy's ``OperationalError`` and ``InterfaceError``, any
``DBAPIError`` that invalidated its connection, psycopg's ``OperationalError``), but not a
mistake that will happen again (a bad password, a database or role that does not exist), nor
errors of the data or the SQL. When the retries are spent the call raises
:class:`DatabaseUnavailableError`, naming the pipeline, the table and the URL with its password
masked, with the last database error as ``__cause__``.
"""

from __future__ import annotations

import sys

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from .._redact import redact_text, redact_urls_in

MAX_BACKOFF = 10.0
"""The longest wait between two attempts, in seconds: the ``cap`` of the storage's Retry."""

# Connection failures that no amount of waiting repairs (libpq gives them no SQLSTATE).
_PERMANENT = (
    "password authentication failed",
    "does not exist",  # database "x" / role "x" does not exist
    "no pg_hba.conf entry",
)


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` says the connection failed, so the same call may succeed later.

    Example:
        >>> from sqlalchemy.exc import IntegrityError, OperationalError
        >>> is_connection_error(OperationalError("SELECT 1", {}, ConnectionError("reset")))
        True
        >>> is_connection_error(IntegrityError("INSERT", {}, ValueError("duplicate key")))
        False
    """
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, OperationalError | InterfaceError):
            return not _permanent(error)
        return _is_driver_connection_error(error.orig)
    return _is_driver_connection_error(error) and not _permanent(error)


def is_permanent_connection_error(error: BaseException) -> bool:
    """Whether connecting failed in a way no retry repairs (a database or role that does not
    exist, a password refused, no ``pg_hba.conf`` entry)."""
    if isinstance(error, DBAPIError):
        if not isinstance(error, OperationalError | InterfaceError):
            return False
    elif not _is_driver_connection_error(error):
        return False
    return _permanent(error)


def cannot_connect(error: BaseException, secrets: list[str]) -> str:
    """Why connecting failed, in one line: the server's message without its prefix."""
    text = describe(error, secrets)
    if ": " in text:
        text = text.split(": ", 1)[1]
    marker = "FATAL:"
    if marker in text:
        text = text.split(marker, 1)[1].strip()
    return text


def server_error(error: BaseException) -> bool:
    """Whether the server answered with an error (it has a SQLSTATE), rather than the
    connection breaking: the statement then failed and committed nothing."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    return bool(getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None))


def timed_out(error: BaseException) -> str | None:
    """``"lock_timeout"`` or ``"statement_timeout"`` if the server cancelled a statement so."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if state == "55P03":
        return "lock_timeout"
    if state == "57014" and "statement timeout" in str(cause):
        return "statement_timeout"
    return None


def _is_driver_connection_error(error: BaseException | None) -> bool:
    psycopg = sys.modules.get("psycopg")  # only ever set when the storage uses psycopg
    return psycopg is not None and isinstance(error, psycopg.OperationalError)


def _permanent(error: BaseException) -> bool:
    text = str(error.orig if isinstance(error, DBAPIError) else error)
    return any(marker in text for marker in _PERMANENT)


def describe(error: BaseException, secrets: list[str]) -> str:
    """``Type: first line`` of the database's message, without secrets or SQL parameters.

    SQLAlchemy's own message appends the statement and its parameters (whole batches of
    records); the driver's message is what tells why the connection failed.
    """
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(cause).strip().splitlines()
    text = lines[0].strip() if lines else ""
    text = redact_text(redact_urls_in(text), secrets)
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
