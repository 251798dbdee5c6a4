"""Every exception weirflow raises, under one base class, and the helper that tags a stage.

The tree::

    WeirflowError
    ├── ConfigError                    bad configuration, raised when a stage or flow is built
    │   ├── InvalidArgumentError       (also a ValueError)   e.g. ``workers=-1``
    │   └── InvalidCallableError       (also a TypeError)    e.g. a non-callable ``f``
    ├── PipelineFailed                 a pipeline of a flow failed (``__cause__``: the original)
    ├── SerializationError             an element or result could not cross to or from a process
    ├── RemoteError                    a worker process raised an exception that did not pickle
    ├── WorkerDied                     a worker process ended without raising (killed, crashed)
    ├── LoadError                      ``weirflow run/check``: the service file cannot be loaded
    │   └── ServiceConfigError         ... because it (or building its flow) raised a ConfigError
    └── ServiceError                   a service (server, broker, database) failed for good
        ├── HttpRequestError           an HTTP request failed after its retries
        │   ├── HttpDecodeError        (also a ValueError)   the body cannot be decoded as asked
        │   ├── HttpBodyTooLargeError  the body is longer than ``max_body_bytes``
        │   └── HttpDeadlineError      the request, retries included, passed ``deadline_seconds``
        ├── MqttError                  an MQTT connection or publication failed after its retries
        ├── BrokerError                a Redis stream broker refused the connection for good
        ├── DatabaseUnavailableError   a ``sql`` storage could not reach its database
        └── PayloadError               (also a ValueError)   an item cannot become a message

Every class is exported from :mod:`weirflow` (and its ``__module__`` is ``"weirflow"``, so a
traceback says ``weirflow.ConfigError``); the HTTP, MQTT, SQL and sender modules re-export theirs.
Every error pickles with its attributes, notes and the stage it was tagged with, because errors
cross from worker processes to the parent.

Errors raised by *user* functions are never wrapped: the consumer of a stage gets the very
exception object the worker raised, with the worker's traceback, tagged with its stage by
:func:`tag_stage`.
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = [
    "BrokerError",
    "ConfigError",
    "DatabaseUnavailableError",
    "HttpBodyTooLargeError",
    "HttpDeadlineError",
    "HttpDecodeError",
    "HttpRequestError",
    "InvalidArgumentError",
    "InvalidCallableError",
    "LoadError",
    "MqttError",
    "PayloadError",
    "PipelineFailed",
    "RemoteError",
    "SerializationError",
    "ServiceConfigError",
    "ServiceError",
    "WeirflowError",
    "WorkerDied",
    "stage_of",
    "tag_stage",
]


def tag_stage(
    error: BaseException, stage: str, worker: int | None = None, *, note_only: bool = False
) -> None:
    """Record on ``error`` the stage (``pipeline.stage``) that raised it; the first tag wins.

    The stage is kept as the attribute ``weirflow_stage`` (read it with :func:`stage_of`), which
    pickles with the error. Given the ``worker`` index, a note naming the worker and the stage is
    added too, so the traceback says where the error came from. With ``note_only`` only the note
    is added: the engine's workers say where an error was raised and leave the attribute to the
    flow, whose stage names (``pipeline.stage``) are the ones :func:`stage_of` reports.

    Example:
        >>> error = ValueError("bad reading")
        >>> tag_stage(error, "weather.parse", worker=1)
        >>> stage_of(error), error.__notes__
        ('weather.parse', ["weirflow: raised in worker 1 of stage 'weather.parse'"])
    """
    if not note_only and not hasattr(error, "weirflow_stage"):
        with contextlib.suppress(AttributeError):  # an exception type with __slots__
            error.weirflow_stage = stage  # type: ignore[attr-defined]
    if worker is not None:
        note = f"weirflow: raised in worker {worker} of stage '{stage}'"
        if note not in getattr(error, "__notes__", ()):
            error.add_note(note)


def stage_of(error: BaseException) -> str | None:
    """The stage :func:`tag_stage` recorded on ``error``, or ``None``."""
    stage = getattr(error, "weirflow_stage", None)
    return stage if isinstance(stage, str) else None


def _rebuild(cls: type[WeirflowError], args: tuple[Any, ...]) -> WeirflowError:
    """Unpickle a :class:`WeirflowError` without calling its ``__init__`` (pickle sets the rest)."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class WeirflowError(Exception):
    """Base class of every error weirflow raises itself.

    You get a subclass, never this class: catch it to handle any failure weirflow reports (as
    opposed to the exceptions your own functions raise, which reach you unwrapped). Every
    subclass pickles with all its attributes, so it crosses from a worker process whole.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # the constructors take other arguments than ``args``: rebuild without them, then
        # restore every attribute (notes and the stage tag included) from ``__dict__``
        return (_rebuild, (type(self), self.args), self.__dict__ or None)


class ConfigError(WeirflowError):
    """A stage, pipeline or flow was configured wrongly; raised when it is built, not when it runs.

    You get it from a builder method, a stage constructor or ``weirflow check`` when an option is
    missing, misspelt, of the wrong type or contradicts another. The message names the pipeline,
    the stage and the field, says what would work and, for a misspelt name, "did you mean".
    Fix the configuration the message points at; retrying cannot help.
    """


class InvalidArgumentError(ConfigError, ValueError):
    """An argument has a value that cannot work (``workers=-1``, ``maxsize=-1``, ``qos=3``...).

    You get it when the stage or component is created, before anything runs; the message names
    the argument, the value given and the values allowed. Pass a value in that range. It is also
    a ``ValueError``, so code that catches ``ValueError`` for bad arguments keeps working.
    """


class InvalidCallableError(ConfigError, TypeError):
    """A function argument is not callable, or its parameters cannot be satisfied.

    You get it when a stage is created with ``f`` (or ``on_start``/``on_done``) that is not a
    function, or that asks for parameters weirflow cannot give (a resource ``on_start`` does not
    return, a required argument with no value). Pass a callable whose parameters are the element
    and, by name, the resources. It is also a ``TypeError``.
    """


class PipelineFailed(WeirflowError):
    """A pipeline of a flow failed; ``__cause__`` is the original exception, traceback included.

    You get it from ``Flow.run()`` (or in the exception group of several) when a pipeline's
    failure policy says to stop: a stage raised, its scheduler broke, or its process died. Read
    :attr:`stage` and ``__cause__`` to see what failed; give the pipeline a restarting failure
    policy (or fix the cause) to keep the flow running.

    Attributes:
        pipeline: the pipeline's name.
        stage: the stage that raised (``pipeline.stage``), or ``None`` for its scheduler.
        error: the original exception (also ``__cause__``).
    """

    def __init__(self, pipeline: str, stage: str | None, error: BaseException) -> None:
        where = f"stage {stage!r}" if stage else "its scheduler"
        super().__init__(
            f"pipeline {pipeline!r} failed in {where}: {type(error).__name__}: {error}"
        )
        self.pipeline = pipeline
        self.stage = stage
        self.error = error
        self.__cause__ = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.pipeline, self.stage, self.error), self.__dict__)


class SerializationError(WeirflowError):
    """Something could not be pickled to cross to or from a worker process.

    You get it from a ``process`` stage whose element, result, function or resource does not
    pickle (a lambda under ``spawn``, an open file, a lock); the message says which one and the
    stage. Make it picklable (a module-level function, plain data), or run the stage as
    ``thread``, which shares memory and pickles nothing.
    """


class RemoteError(WeirflowError):
    """A worker process raised an exception that could not be pickled back.

    You get it instead of the original exception, whose type name, message and formatted
    traceback it carries (``str()`` shows them). Make your exception picklable (its ``__init__``
    arguments in ``args``) to receive the original instead.

    Attributes:
        type_name: the qualified name of the original exception's type.
        message: the original exception's message.
        remote_traceback: the original traceback, formatted in the worker process.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}\n\nremote traceback:\n{self.remote_traceback}"


class WorkerDied(WeirflowError):
    """A worker ended without raising an exception (for example a process killed by a signal).

    You get it when a worker process is killed (the OOM killer, ``kill -9``), crashes in native
    code or calls ``os._exit``; the elements it held are lost with it. Look at :attr:`exitcode`
    (``-9``: SIGKILL) and the system log; lower the stage's memory use or its ``workers``.

    Attributes:
        stage: the readable name of the stage (or pipeline) the worker belonged to.
        exitcode: the process exit code (negative: the signal that ended it), if known.
    """

    def __init__(self, stage: str, exitcode: int | None) -> None:
        super().__init__(f"a worker of stage {stage!r} died with exit code {exitcode}")
        self.stage = stage
        self.exitcode = exitcode


class LoadError(WeirflowError):
    """A service file could not be loaded for ``weirflow run``/``check``, or exposes no flow.

    You get it when the file does not exist, raises while it runs (the message names the file
    and the line), or defines no flow or several. Fix the file, or name its flow with
    ``path.py:name``.
    """


class ServiceConfigError(LoadError):
    """A :class:`ConfigError` raised while loading a service file, with where it was raised.

    You get it from ``weirflow run``/``check`` when the file, or building its flow, raised a
    :class:`ConfigError`; :attr:`where` is the file and line, :attr:`error` the original.
    Fix the configuration at that line.

    Attributes:
        where: ``path.py:line`` of the statement that raised.
        error: the original :class:`ConfigError` (also ``__cause__``).
    """

    def __init__(self, where: str, error: ConfigError) -> None:
        super().__init__(f"{where}: {error}")
        self.where = where
        self.error = error
        self.__cause__ = error


class ServiceError(WeirflowError):
    """A service weirflow talks to (a server, a broker, a database) failed for good.

    You get a subclass when an operation of a source, storage or sender failed after its
    retries, or at once when retrying is useless; the cause (the library's exception) is the
    ``__cause__``. Catch this class to handle any outage the same way; check the service named
    in the message, or raise the component's retries for a flaky one.

    Attributes:
        message: the message, which never shows credentials.
        pipeline: the pipeline whose component failed, or ``None`` when unknown (a component
            made directly).
        attempts: how many times the operation was tried, or ``None`` when it was not retried.
    """

    def __init__(
        self, message: str, pipeline: str | None = None, attempts: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.pipeline = pipeline
        self.attempts = attempts


class HttpRequestError(ServiceError):
    """An HTTP request failed for good: after its retries, or at once when retrying is useless.

    You get it for a connection that cannot be made, a timeout, or an answer other than 2xx
    once the retries are used up (4xx answers and failed certificate checks are not retried).
    The httpx exception (``httpx.ConnectError``, ``httpx.HTTPStatusError``...) is the
    ``__cause__``. The message and :attr:`url` never show credentials. Check the URL, the
    server, and ``verify``/``cert`` for TLS; raise ``retries`` for a flaky server.

    Attributes:
        pipeline: the pipeline that made the request.
        method: the HTTP method.
        url: the URL, with its password and secret query parameters masked.
        status_code: the status of the last answer, or ``None`` if no answer came.
        attempts: how many times the request was sent.
    """

    def __init__(
        self,
        message: str,
        pipeline: str,
        method: str,
        url: str,
        status_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, pipeline, attempts)
        self.method = method
        self.url = url
        self.status_code = status_code


class HttpDecodeError(HttpRequestError, ValueError):
    """An answer's body could not be decoded as asked.

    You get it for ``decode="json"`` and a body that is not JSON, nested too deeply, or a
    damaged gzip body. Retrying would get the same body: use ``decode="text"`` or
    ``decode="bytes"`` to take the body as it is. It is also a ``ValueError``.
    """


class HttpBodyTooLargeError(HttpRequestError):
    """An answer's body, decoded, is longer than ``max_body_bytes``; it was not read further.

    You get it at once (it is not retried) when a server sends more than the limit, which
    guards memory against a runaway or hostile server. Raise ``max_body_bytes`` if the body is
    expected to be that big.
    """


class HttpDeadlineError(HttpRequestError):
    """The request, retries included, did not complete within ``deadline_seconds``.

    You get it for a server that answers very slowly (say a byte a second, each read within
    ``timeout``) instead of it holding the pipeline. Raise ``deadline_seconds`` for slow, big
    bodies.
    """


class MqttError(ServiceError):
    """An MQTT operation failed for good (after its retries, or at once when retrying is useless).

    You get it from an MQTT source or sender when the broker cannot be reached, refuses the
    connection (bad credentials, not authorised: not retried), fails the TLS handshake, or a
    publication is not acknowledged after the retries. The paho or socket exception, when there
    is one, is the ``__cause__``. Check the broker address, credentials and TLS options the
    message names; raise ``retries`` for a flaky broker.

    Attributes:
        pipeline: the pipeline that talked to the broker.
        broker: ``mqtt://host:port`` (``mqtts://`` with TLS); never a password.
        topic: the topic published to, or ``None``.
        attempts: how many times the operation was tried.
    """

    def __init__(
        self, message: str, pipeline: str, broker: str, topic: str | None = None, attempts: int = 1
    ) -> None:
        super().__init__(message, pipeline, attempts)
        self.broker = broker
        self.topic = topic


class BrokerError(ServiceError):
    """The Redis broker of a flow's streams refused for good (retrying cannot help).

    You get it when the server rejects the login (a wrong password or user), the TLS
    handshake fails (a certificate that does not verify), or a command is refused (the server
    is not Redis 5 or newer, or an ACL forbids it). A server that is down or restarting is
    *not* this error: readers and writers wait for it, reconnecting with backoff. The
    message names the broker's URL without its password.

    Attributes:
        pipeline: the pipeline that talked to the broker, or ``None``.
        broker: the broker's URL, its password masked.
    """

    def __init__(self, message: str, pipeline: str | None, broker: str) -> None:
        super().__init__(message, pipeline)
        self.broker = broker


class DatabaseUnavailableError(ServiceError):
    """A ``sql`` storage could not reach its database, even after its retries.

    You get it when the database stays down, unreachable or refuses the login longer than the
    storage's retries. The last database error is the ``__cause__``. The message and :attr:`url`
    never show the password. Nothing of the failed call was committed, except when the
    connection broke while the database was committing it (the message says so): only then may
    the rows be there, and a storage with ``upsert_on`` makes saving them again harmless. Check
    the database and the URL; raise the storage's retries to ride out longer outages.

    Attributes:
        pipeline: the pipeline whose storage failed (``None`` for a storage made directly).
        table: the table's name.
        url: the database URL, password masked.
        attempts: how many times the call was tried.

    Example:
        >>> error = DatabaseUnavailableError(
        ...     "database unreachable", "weather", "readings", "postgresql://app:***@db/prod", 6
        ... )
        >>> error.pipeline, error.table, error.attempts
        ('weather', 'readings', 6)
        >>> import pickle; str(pickle.loads(pickle.dumps(error)))
        'database unreachable'
    """

    def __init__(
        self, message: str, pipeline: str | None, table: str, url: str, attempts: int
    ) -> None:
        super().__init__(message, pipeline, attempts)
        self.table = table
        self.url = url


class PayloadError(ServiceError, ValueError):
    """An item cannot become what a sender sends: no such label, or not JSON-serialisable.

    You get it from a sender (HTTP, MQTT...) for an item that is not a dict, lacks the key
    ``label_to_send`` names, or holds values JSON cannot encode; the message names the pipeline,
    the sender and shows the item. Nothing was sent, and resending the same item cannot help:
    fix the stage before the sender, or ``label_to_send``. It is also a ``ValueError``.

    Attributes:
        pipeline: the pipeline of the sender, or ``None`` when unknown.
        attempts: always ``None``: nothing was sent.
    """
