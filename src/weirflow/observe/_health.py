"""Liveness and readiness of a running flow, as ``/healthz`` and ``/readyz`` answer them.

Liveness asks one thing: does the flow's supervisor answer (it wakes, sees the question and
answers within two seconds)? It checks no dependency, so a database that is down never gets a
healthy service restarted. Readiness asks whether the service is doing its job: the flow runs,
every continuous source that can tell is connected, and no pipeline has failed or is backing
off before a restart. Each answer lists its checks, so a 503 says which one failed.

Example:
    >>> from weirflow import FlowBuilder
    >>> builder = FlowBuilder()
    >>> _ = builder.add_pipeline("p", timedelta_seconds=60).with_core_logic(lambda: 1)
    >>> readiness(builder.build()).ok  # not launched
    False
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PING_SECONDS = 2.0


@dataclass(frozen=True)
class Check:
    """One check: its name, whether it passed, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Health:
    """The answer of a health endpoint: ``ok`` when every check passed."""

    ok: bool
    checks: tuple[Check, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failing",
            "checks": [asdict(c) for c in self.checks],
        }


def _health(checks: list[Check]) -> Health:
    return Health(all(check.ok for check in checks), tuple(checks))


def liveness(flow: Any) -> Health:
    """Whether the flow's supervisor answers (no dependency is checked)."""
    answered = flow.ping(PING_SECONDS)
    detail = "answered" if answered else f"no answer within {PING_SECONDS:g}s (or not running)"
    return _health([Check("supervisor", answered, detail)])


def readiness(flow: Any) -> Health:
    """Whether the flow runs, its continuous sources are connected and no pipeline failed."""
    status = flow.status()
    checks = [Check("flow", status.state == "running", f"flow is {status.state}")]
    for pipeline in status.pipelines:
        healthy = pipeline.state not in ("failed", "restarting")
        checks.append(Check(f"pipeline {pipeline.name}", healthy, f"state {pipeline.state}"))
        if pipeline.continuous and pipeline.connected is not None:
            checks.append(
                Check(
                    f"source {pipeline.name}",
                    pipeline.connected,
                    "connected" if pipeline.connected else "not connected",
                )
            )
    return _health(checks)
