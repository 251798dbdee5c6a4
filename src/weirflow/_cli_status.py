"""The command line's parts for flows split over processes and machines.

``weirflow run service.py --pipelines a,b --broker URL`` runs only those pipelines (the whole
file is still built and checked; ``--broker`` and the ``WEIRFLOW_BROKER`` variable override the
file's ``FlowBuilder(broker=...)``), and ``weirflow status service.py [--broker URL] [--json]``
prints the flow's running instances and, per stream, its length and each reading pipeline's
lag, pending entries, consumers and dead letters.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from ._errors import ConfigError, WeirflowError

BROKER_VARIABLE = "WEIRFLOW_BROKER"


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """``--pipelines`` and ``--broker`` of ``weirflow run``."""
    run.add_argument(
        "--pipelines",
        metavar="A,B",
        default=None,
        help="run only these pipelines of the file (the others run elsewhere, joined by the "
        "broker)",
    )
    _broker_argument(run)


def _broker_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        metavar="URL",
        default=None,
        help=f"redis:// or rediss:// URL joining the flow's parts (default: ${BROKER_VARIABLE}, "
        "else the file's FlowBuilder(broker=...))",
    )


def add_status_command(commands: Any) -> None:
    status = commands.add_parser(
        "status", help="the running instances of a flow and its streams (needs a broker)"
    )
    status.add_argument("service", help="path/to/service.py, optionally :name of the flow in it")
    _broker_argument(status)
    status.add_argument("--json", action="store_true", help="print JSON")


def broker_url(arguments: argparse.Namespace) -> str | None:
    """``--broker``, else ``$WEIRFLOW_BROKER``, else ``None`` (the file's own)."""
    return arguments.broker or os.environ.get(BROKER_VARIABLE) or None


def part_to_run(flow: Any, arguments: argparse.Namespace) -> Any:
    """The part of ``flow`` that ``weirflow run`` runs (raises ``ConfigError``)."""
    from .flows._parts import parse_pipelines, select_part

    pipelines = None if arguments.pipelines is None else parse_pipelines(arguments.pipelines)
    return select_part(flow, pipelines, broker_url(arguments))


def status(flow: Any, arguments: argparse.Namespace) -> int:
    """Print the flow's status; 0, 2 without a broker, 1 when Redis cannot be read."""
    from .flows._parts import select_part
    from .flows._redis_broker import RedisBroker

    try:
        part = select_part(flow, None, broker_url(arguments))
    except ConfigError as error:
        print(f"weirflow: configuration error: {error}", file=sys.stderr)
        return 2
    if part.distribution.broker is None:
        print(
            f"weirflow: configuration error: flow {part.name!r} has no broker; give one with "
            f"--broker redis://host:6379/0, ${BROKER_VARIABLE} or FlowBuilder(broker=...)",
            file=sys.stderr,
        )
        return 2
    broker = RedisBroker.for_flow(part)
    try:
        found = broker.flow_status()
    except WeirflowError as error:
        print(f"weirflow: {error}", file=sys.stderr)
        return 1
    finally:
        broker.release()
    if arguments.json:
        print(json.dumps(found.as_dict(), indent=2))
    else:
        print(format_status(found))
    return 0


def format_status(found: Any, now: float | None = None) -> str:
    """The status as ``weirflow status`` prints it."""
    now = time.time() if now is None else now
    lines = [f"flow {found.flow!r} on {found.broker}"]
    lines.append(f"instances: {len(found.instances)}")
    for instance in found.instances:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(instance.started))
        lines.append(
            f"  {instance.id}: host {instance.host}, pid {instance.pid}, pipelines "
            f"{', '.join(instance.pipelines) or '-'}, started {started} UTC, last heartbeat "
            f"{max(0.0, now - instance.heartbeat):.1f}s ago"
        )
    lines.append(f"streams: {len(found.streams)}")
    for stream in found.streams:
        lines.append(
            f"  {stream.name!r} ({stream.key}): {stream.length} entries, "
            f"{stream.dead_letters} dead letters"
        )
        for group in stream.groups:
            lag = "?" if group.lag is None else group.lag
            lines.append(
                f"    read by {group.pipeline!r}: lag {lag}, pending {group.pending}, "
                f"consumers {group.consumers}, dead letters {group.dead_letters}"
            )
    return "\n".join(lines)
