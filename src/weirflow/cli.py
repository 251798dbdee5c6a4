"""The ``weirflow`` command line: ``run`` and ``check`` a service file.

A service file is a Python file that exposes a :class:`~weirflow.Flow`, a
:class:`~weirflow.FlowBuilder`, or a function returning one (``build_flow``, ``make_flow``,
``create_flow`` or ``flow``); ``path.py:name`` picks one by name. The file runs as a script
would, except that its ``if __name__ == "__main__":`` block does not.

Exit codes: 0 when the flow ended or was stopped by a signal, 1 when a pipeline failed, 2 for a
configuration or usage error, 130 on a second Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._errors import ConfigError, PipelineFailed
from ._version import __version__

FACTORY_NAMES = ("build_flow", "make_flow", "create_flow", "flow")


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
        type=float,
        default=None,
        help="stop after this many seconds (default: run until done or stopped)",
    )
    run.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    check = commands.add_parser("check", help="validate a service file and print its pipelines")
    check.add_argument("service", help="path/to/service.py, optionally :name of the flow in it")
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
    try:
        flow = load_flow(arguments.service)
    except ConfigError as error:
        print(f"weirflow: configuration error: {error}", file=sys.stderr)
        return 2
    except LoadError as error:
        print(f"weirflow: {error}", file=sys.stderr)
        return 2
    if arguments.command == "check":
        print(flow.describe())
        return 0
    return _run(flow, arguments.execution_seconds, arguments.log_level)


def _run(flow: Any, execution_seconds: float | None, log_level: str) -> int:
    from ._redact import RedactingFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("weirflow")
    logger.addHandler(handler)
    logger.setLevel(log_level.upper())
    try:
        flow.launch_flow(execution_seconds=execution_seconds)
    except (PipelineFailed, ExceptionGroup) as error:
        logger.error("the flow failed", exc_info=error)
        return 1
    finally:
        for name, stats in flow.statistics().items():
            print(
                f"{name}: {stats['runs']} run(s), {stats['items']} item(s), "
                f"{stats['failures']} failure(s), {stats['restarts']} restart(s)"
            )
        logger.removeHandler(handler)
    return 0


class LoadError(Exception):
    """The service file could not be loaded or exposes no flow."""


def load_flow(target: str) -> Any:
    """Load ``path.py`` or ``path.py:name`` and return the :class:`~weirflow.Flow` it exposes."""
    from .flows import Flow, FlowBuilder

    path_text, _, name = target.partition(":") if not Path(target).exists() else (target, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise LoadError(f"no such service file: {path}")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        namespace = runpy.run_path(str(path), run_name="__weirflow_service__")
    except ConfigError:
        raise
    except Exception as error:
        raise LoadError(f"{path} raised {type(error).__name__}: {error}") from error
    if name:
        if name not in namespace:
            raise LoadError(f"{path} has no {name!r}")
        candidate = namespace[name]
    else:
        found = [
            key
            for key, value in namespace.items()
            if isinstance(value, (Flow, FlowBuilder)) and not key.startswith("_")
        ]
        if len(found) > 1:
            raise LoadError(
                f"{path} has several flows ({', '.join(found)}); pick one: {target}:NAME"
            )
        if found:
            candidate = namespace[found[0]]
        else:
            factories = [key for key in FACTORY_NAMES if callable(namespace.get(key))]
            if not factories:
                raise LoadError(
                    f"{path} exposes no Flow, FlowBuilder or factory function "
                    f"({', '.join(FACTORY_NAMES)})"
                )
            candidate = namespace[factories[0]]
    if callable(candidate) and not isinstance(candidate, (Flow, FlowBuilder)):
        candidate = candidate()
    if isinstance(candidate, FlowBuilder):
        candidate = candidate.build()
    if not isinstance(candidate, Flow):
        raise LoadError(f"{target} is a {type(candidate).__name__}, not a Flow or FlowBuilder")
    return candidate
