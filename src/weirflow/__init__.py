"""weirflow: concurrent data pipelines and data services.

Stages run a plain function with N workers (threads, asyncio tasks, or inline) and are joined by
bounded queues. The functional API follows pypeln 0.4, so ``import weirflow as pl`` runs pypeln
programs unchanged.

Example:
    >>> import weirflow as wf
    >>> stage = wf.thread.map(lambda x: x * 2, range(4), workers=2)
    >>> list(wf.thread.ordered(stage))
    [0, 2, 4, 6]
"""

from __future__ import annotations

from . import process as process
from . import sync as sync
from . import task as task
from . import thread as thread
from ._errors import ConfigError as ConfigError
from ._errors import InvalidArgumentError as InvalidArgumentError
from ._errors import InvalidCallableError as InvalidCallableError
from ._errors import PipelineFailed as PipelineFailed
from ._errors import RemoteError as RemoteError
from ._errors import SerializationError as SerializationError
from ._errors import StageReuseError as StageReuseError
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
