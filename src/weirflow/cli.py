"""The ``weirflow`` command line: ``run``, ``check``, ``graph`` and ``status`` of a service file.

A service file is a Python file that exposes a :class:`~weirflow.Flow`, a
:class:`~weirflow.FlowBuilder` (a builder and the flow built from it are one flow), or a function
returning one (``build_flow``, ``make_flow``, ``create_flow`` or ``flow``); ``path.py:name``
picks one by name. The file runs as a script would, except that its
``if __name__ == "__main__":`` block does not and a top-level ``flow.launch_flow(...)`` is not
run while loading (``run`` uses its ``execution_seconds`` unless ``--execution-seconds`` is
given). See ``_load.py``.

``weirflow check`` prints each pipeline's stages and what they talk to (credentials masked);
``--connect`` also tries each source, storage and sender once. ``weirflow run --http HOST:PORT``
serves a status page, metrics and health checks while the flow runs; ``weirflow graph`` draws
the flow (``observe/_cli_graph.py``). ``run --pipelines a,b --broker URL`` runs part of a flow
and ``status`` shows its running parts (``_cli_status.py``).

Exit codes: 0 when the flow ended or was stopped by a signal (``check``: it is valid, and with
``--connect`` everything was reachable), 1 when a pipeline failed (or something was
unreachable), 2 for a configuration or usage error, 130 on a second Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from . import _cli_status
from ._errors import ConfigError, LoadError, PipelineFailed, ServiceConfigError, WeirflowError
from ._load import load_service
from ._runcli import add_arguments as add_run_arguments
from ._runcli import install_logging, observing, uninstall_logging
from ._version import __version__

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds > 0 (leave it out to run until stopped), "
            f"got {text!r}"
        )
    return value


def _level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.upper()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weirflow", description="Concurrent data pipelines and data services."
    )
    parser.add_argument("--version", action="version", version=f"weirflow {__version__}")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a service file until it ends or is stopped")
    run.add_argument("service", help="path/to/service.py, optionally :name of the flow in it")
    run.add_argument(
        "--execution-seconds",
        type=_seconds,
        default=None,
        help="stop after this many seconds (default: the file's launch_flow(execution_seconds=)"
        ", else run until done or stopped)",
    )
    run.add_argument("--log-level", type=_level, default="INFO", help="logging level (INFO)")
    add_run_arguments(run)
    run.add_argument(
        "--http",
        default=None,
        metavar="HOST:PORT",
        help="serve a status page, /metrics, /healthz and /readyz (e.g. 127.0.0.1:8000)",
    )
    _cli_status.add_run_arguments(run)
    check = commands.add_parser("check", help="validate a service file and print its pipelines")
    check.add_argument("service", help="path/to/service.py, optionally :name of the flow in it")
    check.add_argument(
        "--connect",
        action="store_true",
        help="also try each source, storage and sender once and say which are reachable",
    )
    from .observe._cli_graph import add_graph_command

    add_graph_command(commands)
    _cli_status.add_status_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Example:
        >>> main(["check", "no/such/service.py"])
        2
    """
    arguments = build_parser().parse_args(argv)
    if arguments.command is None:
        build_parser().print_help()
        return 0
    quiet = arguments.command in ("check", "graph", "status")
    handler = install_logging(
        "WARNING" if quiet else arguments.log_level,
        getattr(arguments, "log_format", "text"),
    )
    try:
        try:
            service = load_service(arguments.service)
        except ServiceConfigError as error:
            print(f"weirflow: {error.where}: configuration error: {error.error}", file=sys.stderr)
            return 2
        except LoadError as error:
            print(f"weirflow: {error}", file=sys.stderr)
            return 2
        if arguments.command == "check":
            return _check(service.flow, arguments.connect)
        if arguments.command == "graph":
            from .observe._cli_graph import run_graph

            return run_graph(service.flow, arguments)
        if arguments.command == "status":
            return _cli_status.status(service.flow, arguments)
        try:
            flow = _cli_status.part_to_run(service.flow, arguments)
        except ConfigError as error:
            print(f"weirflow: configuration error: {error}", file=sys.stderr)
            return 2
        seconds = arguments.execution_seconds or service.execution_seconds
        return _run(
            flow,
            seconds,
            observing(flow, arguments, handler),
            arguments.http or service.http,
        )
    finally:
        uninstall_logging(handler)


def _check(flow: Any, connect: bool) -> int:
    print(flow.describe())
    if not connect:
        return 0
    from .flows._targets import probe_flow

    results = probe_flow(flow)
    print("connections:")
    for result in results:
        print(f"  {result.line()}")
    return 1 if any(result.reachable is False for result in results) else 0


def _log_failures(logger: logging.Logger, error: BaseException) -> None:
    """Say why the flow failed: each failure was logged in one line as it happened.

    A failure inside weirflow's own connectors and storages (a refused connection, a database
    that is down, a broker that said no) is operational: its traceback, mostly third-party
    frames, goes to DEBUG. A failure of the user's own code keeps its traceback at ERROR (it
    starts at the user's frame).
    """
    failures = list(error.exceptions) if isinstance(error, ExceptionGroup) else [error]
    logger.error("the flow failed: %d pipeline(s) failed", len(failures))
    for failure in failures:
        cause = failure.__cause__ if isinstance(failure, PipelineFailed) else failure
        if isinstance(cause, WeirflowError):
            logger.debug("traceback of %s", failure, exc_info=failure)
        else:
            logger.error("traceback of %s", failure, exc_info=failure)


def _run(
    flow: Any,
    execution_seconds: float | None,
    observed: AbstractContextManager[Any],
    http: str | None = None,
) -> int:
    from ._heap import freeze_startup_heap
    from .flows._signals import keep_handlers_after_a_signal

    logger = logging.getLogger("weirflow")
    keep_handlers_after_a_signal()  # a late SIGTERM must not cut the summary short
    freeze_startup_heap()  # the service's process: what exists now lives until it exits
    try:
        with observed:  # progress lines end before the summary is printed
            flow.launch_flow(execution_seconds=execution_seconds, http=http)
    except ConfigError as error:
        print(f"weirflow: configuration error: {error}", file=sys.stderr)
        return 2
    except (PipelineFailed, ExceptionGroup) as error:
        _log_failures(logger, error)
        return 1
    finally:
        for name, stats in flow.statistics().items():
            print(
                f"{name}: {stats['runs']} run(s), {stats['items']} item(s), "
                f"{stats['failures']} failure(s), {stats['restarts']} restart(s)",
                flush=True,
            )
    return 0
