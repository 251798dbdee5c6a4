"""Printing the results as a table, and writing them as JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _harness import ITEMS_PER_S, Result, Settings

COLUMNS = ("case", "implementation", "N", "best s", "value", "unit", "wf/pypeln", "% ideal", "note")
RIGHT_ALIGNED = {"N", "best s", "value", "wf/pypeln", "% ideal"}


def format_value(result: Result) -> str:
    if result.value is None:
        return "FAILED"
    if result.metric == ITEMS_PER_S:
        return f"{result.value:,.0f}"
    return f"{result.value:.2f}"


def format_ideal(result: Result) -> str:
    if result.metric != ITEMS_PER_S or result.value is None or not result.ideal:
        return ""
    share = result.value / result.ideal
    return f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


def format_ratio(result: Result) -> str:
    return "" if result.vs_pypeln is None else f"{result.vs_pypeln:.2f}x"


def row(result: Result) -> dict[str, str]:
    return {
        "case": result.case,
        "implementation": result.implementation,
        "N": f"{result.n:,}",
        "best s": "" if result.seconds is None else f"{result.seconds:.3f}",
        "value": format_value(result),
        "unit": result.metric,
        "wf/pypeln": format_ratio(result),
        "% ideal": format_ideal(result),
        "note": result.error or result.note,
    }


def format_table(results: list[Result]) -> str:
    """A plain-text table, one line per result, a blank line between cases."""
    rows = [row(result) for result in results]
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}

    def line(cells: dict[str, str]) -> str:
        parts = [
            cells[c].rjust(widths[c]) if c in RIGHT_ALIGNED else cells[c].ljust(widths[c])
            for c in COLUMNS
        ]
        return "  ".join(parts).rstrip()

    out = [line({c: c for c in COLUMNS}), "  ".join("-" * widths[c] for c in COLUMNS)]
    previous = None
    for cells in rows:
        if previous is not None and cells["case"] != previous:
            out.append("")
        previous = cells["case"]
        out.append(line(cells))
    return "\n".join(out)


def legend(settings: Settings) -> str:
    reps = f"best of {settings.reps}" if settings.reps > 1 else "1 timed run"
    return "\n".join(
        [
            f"items/s: N / best wall time ({reps}, after one untimed warm-up on a smaller N);",
            "  the time covers building the pipeline, starting its workers and consuming it all.",
            "wf/pypeln: weirflow / pypeln with the same kind and settings (items/s: higher is",
            "  better; MiB: lower is better). Rows with 'N x..' in the note ran on fewer items.",
            "% ideal: identity-map and chain-3-stage: of the plain generator (no concurrency,",
            "  no overhead); io-sleep-10ms: of 10,000 items/s (100 workers / 10 ms);",
            "  process-identity and process-chain-3: of multiprocessing.Pool.imap (not a ceiling);",
            "  process-cpu-1ms: of the plain loop, i.e. the speed-up on 2 workers (ideal 200%);",
            "  its rows are timed in turns, best of 5, so load on the machine hits all alike;",
            "  source-range-vs-generator: a generator row's rate over its stage's over a range.",
            "process-*: every time includes starting and stopping the worker processes (Pool",
            "  and WorkerPool are created inside the timed region); Pool and mpire use forkserver,",
            "  like weirflow; pypeln.process uses the interpreter's default (fork on Linux).",
            "MiB: peak RSS growth during the run, fresh process per measurement, one run each.",
        ]
    )


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def metadata(settings: Settings) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "quick": settings.quick,
        "reps": settings.reps,
        "versions": {name: package_version(name) for name in ("weirflow", "pypeln", "mpire")},
    }


def header(settings: Settings) -> str:
    meta = metadata(settings)
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    mode = "quick" if settings.quick else "full"
    return f"Python {meta['python']} on {meta['platform']}, {meta['cpus']} CPUs; {versions}; {mode}"


def write_json(path: Path, results: list[Result], settings: Settings) -> None:
    document = {"meta": metadata(settings), "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2) + "\n")
