"""weirflow's benchmark suite: weirflow side by side with pypeln and stdlib baselines, one run.

Usage (from the project root)::

    python benchmarks/run.py                  # full run, a few minutes on 2 cores
    python benchmarks/run.py --quick          # smoke run, well under 30 s
    python benchmarks/run.py --only io        # only cases whose name contains "io"
    python benchmarks/run.py --only redis     # the Redis Streams cases (needs Redis)
    python benchmarks/run.py --json out.json  # also write the results as JSON

Progress goes to stderr, the table to stdout; the exit status is 1 if any implementation failed
(an error or wrong output), 0 otherwise.

Adding cases: write a module ``benchmarks/cases_<topic>.py`` whose ``cases()`` returns objects
following :class:`_harness.Case` (usually :class:`_harness.ThroughputCase` built from
``weirflow_impl`` / ``pypeln_impl`` / ``baseline_impl``), and add its name to
:data:`CASE_MODULES`. A ``cases_process`` module (weirflow.process, pypeln.process,
``multiprocessing.Pool.imap``, mpire) fits as is: its functions must be module-level so they
pickle, which is also why this script keeps the ``__main__`` guard.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _harness import Case, Progress, Result, Settings
from _report import format_table, format_value, header, legend, write_json

CASE_MODULES = (
    "cases_engine",
    "cases_statistics",
    "cases_sources",
    "cases_io",
    "cases_memory",
    "cases_process",
    "cases_ray",
    "mqtt_to_database",
    "cases_redis",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, one timed run")
    parser.add_argument("--only", metavar="SUBSTRING", help="run only cases whose name has it")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write results as JSON")
    return parser.parse_args(argv)


def load_cases() -> list[Case]:
    found: list[Case] = []
    for name in CASE_MODULES:
        module = importlib.import_module(name)
        cases: Callable[[], list[Case]] = module.cases
        found.extend(cases())
    return found


def select(cases: list[Case], only: str | None) -> list[Case]:
    if only is None:
        return cases
    return [case for case in cases if only.lower() in case.name.lower()]


def progress_printer(started: float) -> Progress:
    def report(result: Result) -> None:
        outcome = result.error or f"{format_value(result)} {result.metric}"
        elapsed = time.perf_counter() - started
        print(
            f"[{elapsed:6.1f}s] {result.case}: {result.implementation}: {outcome}", file=sys.stderr
        )

    return report


def run_cases(cases: list[Case], settings: Settings) -> list[Result]:
    progress = progress_printer(time.perf_counter())
    results: list[Result] = []
    for case in cases:
        results.extend(case.measure(settings, progress))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.create(quick=args.quick)
    all_cases = load_cases()
    cases = select(all_cases, args.only)
    if not cases:
        names = ", ".join(case.name for case in all_cases)
        print(f"no case matches {args.only!r}; cases: {names}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = run_cases(cases, settings)
    print(header(settings))
    print()
    print(format_table(results))
    print()
    print(legend(settings))
    print(f"total wall time: {time.perf_counter() - started:.1f} s")
    if args.json is not None:
        write_json(args.json, results, settings)
    return 1 if any(not result.ok for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
