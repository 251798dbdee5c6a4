"""weirflow: concurrent data pipelines and data services.

Stages run a plain function with N workers (threads, asyncio tasks, or inline) and are joined by
bounded queues. The functional API follows pypeln 0.4, so ``import weirflow as pl`` runs pypeln
programs unchanged.

General layout (imports flow down, never in a circle; ``docs/architecture.md`` draws it):
``cli.py`` the command line; ``flows/`` the service layer (``FlowBuilder`` -> ``Flow`` ->
pipelines); ``connectors/<technology>/`` one package per technology, both directions together
(``connectors/http/``, ``connectors/mqtt/``: source, sender, options, plumbing);
``storages/`` json, jsonl, csv, sql; ``senders/`` the sender registry and functions; ``abc.py``
the extension interfaces and ``_registry.py`` the kind registries; ``_api.py`` the functional
API behind ``weirflow.{sync,thread,task,process}``; ``_runtime/`` the engine (one worker loop,
one supervisor, channels) with ``_runtime/executors/`` one module per back end; the model below
all of them: ``_errors.py`` (one error tree), ``_checks.py`` (argument checks), ``_retry.py``
(the retry policy and its loop); ``testing/`` the kit for users' tests.

Example:
    >>> import weirflow as wf
    >>> stage = wf.thread.map(lambda x: x * 2, range(4), workers=2)
    >>> list(wf.thread.ordered(stage))
    [0, 2, 4, 6]
"""

from __future__ import annotations

from . import process as process
from . import ray as ray
from . import sync as sync
from . import task as task
from . import thread as thread
from ._errors import BrokerError as BrokerError
from ._errors import ConfigError as ConfigError
from ._errors import DatabaseUnavailableError as DatabaseUnavailableError
from ._errors import HttpBodyTooLargeError as HttpBodyTooLargeError
from ._errors import HttpDeadlineError as HttpDeadlineError
from ._errors import HttpDecodeError as HttpDecodeError
from ._errors import HttpRequestError as HttpRequestError
from ._errors import InvalidArgumentError as InvalidArgumentError
from ._errors import InvalidCallableError as InvalidCallableError
from ._errors import LoadError as LoadError
from ._errors import MqttError as MqttError
from ._errors import PayloadError as PayloadError
from ._errors import PipelineFailed as PipelineFailed
from ._errors import RemoteError as RemoteError
from ._errors import SerializationError as SerializationError
from ._errors import ServiceConfigError as ServiceConfigError
from ._errors import ServiceError as ServiceError
from ._errors import WeirflowError as WeirflowError
from ._errors import WorkerDied as WorkerDied
from ._interfaces import Delivery as Delivery
from ._interfaces import Sender as Sender
from ._interfaces import Source as Source
from ._interfaces import Storage as Storage
from ._registry import register_connector as register_connector
from ._registry import register_sender as register_sender
from ._registry import register_storage as register_storage
from ._retry import Retry as Retry
from ._runtime._batch import Element as Element
from ._runtime._inject import StageStatus as StageStatus
from ._runtime._inject import WorkerInfo as WorkerInfo
from ._stage import Partial as Partial
from ._stage import Stage as Stage
from ._version import __version__ as __version__
from .flows import Flow as Flow
from .flows import FlowBuilder as FlowBuilder
from .flows import run_flow as run_flow
from .observe import progress as progress

__all__ = [
    "BrokerError",
    "ConfigError",
    "DatabaseUnavailableError",
    "Delivery",
    "Element",
    "Flow",
    "FlowBuilder",
    "HttpBodyTooLargeError",
    "HttpDeadlineError",
    "HttpDecodeError",
    "HttpRequestError",
    "InvalidArgumentError",
    "InvalidCallableError",
    "LoadError",
    "MqttError",
    "Partial",
    "PayloadError",
    "PipelineFailed",
    "RemoteError",
    "Retry",
    "Sender",
    "SerializationError",
    "ServiceConfigError",
    "ServiceError",
    "Source",
    "Stage",
    "StageStatus",
    "Storage",
    "WeirflowError",
    "WorkerDied",
    "WorkerInfo",
    "__version__",
    "process",
    "progress",
    "ray",
    "register_connector",
    "register_sender",
    "register_storage",
    "run_flow",
    "sync",
    "task",
    "thread",
]

# Tracebacks and pickles name the public module: ``weirflow.ConfigError``, not
# ``weirflow._errors.ConfigError`` (as httpx does); every class here is importable from it.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = "weirflow"
del _name, _value
