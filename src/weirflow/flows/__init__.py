"""Data services: pipelines of stages on schedules, supervised together as a flow.

Example:
    >>> import tempfile, pathlib
    >>> from weirflow.flows import FlowBuilder
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "squares.jsonl"
    >>> builder = FlowBuilder()
    >>> _ = builder.add_pipeline("squares") \\
    ...     .with_core_logic(lambda: (x * x for x in range(4))) \\
    ...     .with_storage("jsonl", path=str(path))
    >>> flow = builder.build()
    >>> flow.launch_flow()
    >>> flow.storage("squares").load()
    [0, 1, 4, 9]
"""

from ._builder import FlowBuilder as FlowBuilder
from ._builder import PipelineBuilder as PipelineBuilder
from ._embedded import run_flow as run_flow
from ._flow import Flow as Flow
from ._pipeline import Pipeline as Pipeline
from ._pipeline import PipelineStatistics as PipelineStatistics
from ._schedule import Clock as Clock
from ._schedule import Cron as Cron
from ._schedule import Interval as Interval
from ._schedule import Once as Once
from ._schedule import SystemClock as SystemClock
from ._schedule import VirtualClock as VirtualClock
from ._selection import select_pipelines as select_pipelines
from ._statistics import DeliveryStatistics as DeliveryStatistics
from ._statistics import ErrorStatistics as ErrorStatistics
from ._statistics import FlowStatistics as FlowStatistics
from ._statistics import PipelineStatus as PipelineStatus
from ._statistics import StageStatistics as StageStatistics
from ._streams import Broker as Broker
from ._streams import StreamStatistics as StreamStatistics
