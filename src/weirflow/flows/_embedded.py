"""Running a flow inside another program's task (Airflow, Prefect, a job runner): :func:`run_flow`.

An orchestrator owns the process it runs a task in: its signals, its idea of success. So
:func:`run_flow` installs no signal handler by default (a SIGTERM the orchestrator sends goes
to the orchestrator's handler, or kills the process; whatever that handler raises cancels the
runs in progress, closes everything and comes out of ``run_flow``: an Airflow kill can never
become a normal return recorded as success), re-raises a pipeline's failure
(:class:`~weirflow.PipelineFailed`, an ``ExceptionGroup`` when several failed together) and
returns a small JSON-able summary for the orchestrator to log, store or pass on (XCom, a
Prefect result).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .._errors import ConfigError
from ._flow import Flow
from ._selection import as_flow, select_pipelines


def run_flow(
    flow_or_builder: Any,
    execution_seconds: float | None = None,
    handle_signals: bool = False,
    pipelines: Iterable[str] | str | None = None,
) -> dict[str, Any]:
    """Run a flow to its end inside an orchestrator's task and return what it did.

    It is commonly used for: one weirflow service as one Airflow task or Prefect task, e.g. a
    daily collection run with a time limit, whose summary goes into XCom.

    Args:
        flow_or_builder: a :class:`~weirflow.FlowBuilder` (built here) or a built
            :class:`~weirflow.Flow`.
        execution_seconds: a time limit (a finite number of seconds > 0), as for
            :meth:`~weirflow.Flow.launch_flow`; ``None``: until every pipeline is done.
        handle_signals: ``False`` (the default): leave SIGINT/SIGTERM to the program around
            the flow; ``True``: stop gracefully on them and return, as ``weirflow run`` does.
        pipelines: the names of the pipelines to run (all of them when ``None``); the others
            do not run. A stream's writers and its reader are selected together.

    Returns:
        ``{"pipelines": {name: {"runs", "items", "failures", "failed_items",
        "duration_seconds"}}, "duration_seconds": ...}``: per pipeline the runs that did not
        fail, the items that passed its last stage, the failed runs, the items set aside
        under ``on_failure="continue"``, and the seconds spent in its runs;
        plain ``int``, ``float`` and ``str`` values only (``json.dumps`` takes it).

    Raises:
        ConfigError: a bad argument, an unknown pipeline name, a flow that does not build.
        PipelineFailed: a pipeline failed under the ``stop`` policy (an ``ExceptionGroup`` of
            them when several failed together).

    Example:
        >>> import json
        >>> from weirflow import FlowBuilder, run_flow
        >>> from weirflow.testing import ListStorage
        >>> storage = ListStorage()
        >>> builder = FlowBuilder()
        >>> _ = builder.add_pipeline("squares").with_core_logic(
        ...     lambda: (x * x for x in range(4))).with_storage(storage)
        >>> summary = run_flow(builder)
        >>> summary["pipelines"]["squares"]["items"], storage.items
        (4, [0, 1, 4, 9])
        >>> sorted(summary["pipelines"]["squares"])
        ['duration_seconds', 'failed_items', 'failures', 'items', 'runs']
        >>> json.loads(json.dumps(summary)) == summary
        True
    """
    if not isinstance(handle_signals, bool):
        raise ConfigError(
            f"run_flow(handle_signals=...) must be True or False, got {handle_signals!r}"
        )
    flow = select_pipelines(as_flow(flow_or_builder, "run_flow()"), pipelines)
    started = time.monotonic()
    flow.launch_flow(execution_seconds, handle_signals=handle_signals)
    return summary_of(flow, time.monotonic() - started)


def summary_of(flow: Flow, seconds: float) -> dict[str, Any]:
    """The JSON-able summary of a flow's last launch (see :func:`run_flow`)."""
    return {
        "pipelines": {
            name: {
                "runs": int(counts["runs"]),
                "items": int(counts["items"]),
                "failures": int(counts["failures"]),
                "failed_items": int(counts["failed_items"]),
                "duration_seconds": round(float(counts["seconds"]), 6),
            }
            for name, counts in flow.statistics().items()
        },
        "duration_seconds": round(seconds, 6),
    }
