"""The exceptions weirflow raises, all under one base class.

The tree::

    WeirflowError
    ├── ConfigError                  bad configuration, raised when a stage or flow is built
    │   ├── InvalidArgumentError     (also a ValueError)   e.g. ``workers=-1``
    │   └── InvalidCallableError     (also a TypeError)    e.g. a non-callable ``f``
    ├── StageReuseError              a stage object was wired into a pipeline it cannot join
    ├── PipelineFailed               a pipeline of a flow failed (the cause is the original error)
    ├── SerializationError           an element or result could not cross to or from a process
    ├── RemoteError                  a worker process raised an exception that did not pickle
    └── WorkerDied                   a worker process ended without raising (killed, crashed)

Errors raised by *user* functions are never wrapped: the consumer of a stage gets the very
exception object the worker raised, with the worker's traceback and a note naming the stage.
"""

from __future__ import annotations


class WeirflowError(Exception):
    """Base class of every error weirflow raises itself."""


class ConfigError(WeirflowError):
    """A stage, pipeline or flow was configured wrongly; raised at build time."""


class InvalidArgumentError(ConfigError, ValueError):
    """An argument has a value that cannot work (``workers=-1``, ``maxsize=-1``, ...)."""


class InvalidCallableError(ConfigError, TypeError):
    """A function argument is not callable, or its parameters cannot be satisfied."""


class StageReuseError(WeirflowError):
    """A stage cannot be used where it was placed."""


class PipelineFailed(WeirflowError):
    """A pipeline of a flow failed; ``__cause__`` is the original exception.

    Attributes:
        pipeline: the pipeline's name.
        stage: the stage that raised (``pipeline.stage``), if known.
    """

    def __init__(self, pipeline: str, stage: str | None, error: BaseException) -> None:
        where = f"stage {stage!r}" if stage else "its scheduler"
        super().__init__(
            f"pipeline {pipeline!r} failed in {where}: {type(error).__name__}: {error}"
        )
        self.pipeline = pipeline
        self.stage = stage

    def __reduce__(self) -> tuple[type[PipelineFailed], tuple[str, str | None, BaseException]]:
        cause = self.__cause__ if self.__cause__ is not None else Exception(str(self))
        return (type(self), (self.pipeline, self.stage, cause))


class SerializationError(WeirflowError):
    """Something could not be pickled to cross to or from a worker process."""


class RemoteError(WeirflowError):
    """A worker process raised an exception that could not be pickled back.

    Attributes:
        type_name: the qualified name of the original exception's type.
        remote_traceback: the original traceback, formatted in the worker process.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[type[RemoteError], tuple[str, str, str]]:
        return (type(self), (self.type_name, self.message, self.remote_traceback))

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}\n\nremote traceback:\n{self.remote_traceback}"


class WorkerDied(WeirflowError):
    """A worker ended without raising an exception (for example a process killed by a signal).

    Attributes:
        stage: the readable name of the stage the worker belonged to.
        exitcode: the process exit code (negative: the signal that ended it), if known.
    """

    def __init__(self, stage: str, exitcode: int | None) -> None:
        super().__init__(f"a worker of stage {stage!r} died with exit code {exitcode}")
        self.stage = stage
        self.exitcode = exitcode

    def __reduce__(self) -> tuple[type[WorkerDied], tuple[str, int | None]]:
        return (type(self), (self.stage, self.exitcode))
