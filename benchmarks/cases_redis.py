"""Streams through Redis: items/s produce -> Redis stream -> consume, weirflow against a floor,
and the speed-up of a CPU-bound consumer run in two processes instead of one.

Needs Redis on 127.0.0.1:6379 (``BENCH_REDIS`` overrides the URL). Cases:

* ``redis-stream``: 200,000 small dicts (``--quick``: 20,000). *weirflow*: two ``weirflow run``
  processes of ``_redis_service.py``, ``--pipelines produce`` and ``--pipelines consume`` (the
  consumer drops each item after its pipeline: publish, read, decode, acknowledge is what is
  timed). *floor*: a hand-written redis-py producer (``json.dumps`` and pipelined ``XADD``
  batches of 1,000, no backpressure) and consumer (``XREADGROUP COUNT 1000``, ``json.loads``,
  one ``XACK`` per batch), each in its own process.
* ``redis-scale-out``: a consumer burning 1 ms of CPU per item (4,000 items; ``--quick``:
  1,000), with one and with two ``weirflow run --pipelines consume`` processes.

Both are timed the same way, from outside: from the first entry's id (Redis stamps it with the
server's clock in milliseconds when it is added) to the moment a poller sees the group has
read all N entries and has none pending, i.e. the last one acknowledged. The poller looks every
20 ms until all N are read, then every 2 ms: polling every 2 ms throughout cost the benchmark
process ~13% of a core (and Redis its share), which on this 2-core machine came out of the
two-consumer run. Each
implementation runs ``settings.reps`` times with a fresh stream, the implementations in turns
(so a slower spell of the machine hits all alike); the best run counts. Every run
checks that all N entries were read and acknowledged. Targets: weirflow >= 80% of the floor;
two consumer processes >= 1.8x one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from _harness import ITEMS_PER_S, Progress, Result, Settings

BENCHMARKS = Path(__file__).resolve().parent
SERVICE = BENCHMARKS / "_redis_service.py"
SRC = str(BENCHMARKS.parent / "src")
URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
POLL_SECONDS = 0.002  # once every entry is read: the end's resolution
POLL_FAR_SECONDS = 0.02  # before that
TIMEOUT_SECONDS = 300.0

FLOOR_PRODUCER = """
import json, sys, redis
url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = redis.Redis.from_url(url)
dumps = json.JSONEncoder(separators=(",", ":")).encode
for start in range(0, n, 1000):
    pipe = client.pipeline(transaction=False)
    for i in range(start, min(n, start + 1000)):
        pipe.xadd(key, {"json": dumps({"id": i, "value": i * 0.5, "sensor": "s1"}).encode()})
    pipe.execute()
"""

FLOOR_CONSUMER = """
import json, sys, redis
url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = redis.Redis.from_url(url)
client.xgroup_createconsumer(key, "consume", "floor")
seen = 0
while seen < n:
    answer = client.xreadgroup("consume", "floor", {key: ">"}, count=1000, block=250)
    if not answer:
        continue
    entries = answer[0][1]
    for _id, fields in entries:
        json.loads(fields[b"json"])
    client.xack(key, "consume", *[entry_id for entry_id, _ in entries])
    seen += len(entries)
"""


class RedisRun:
    """One measured run on a fresh stream: start processes, time the first entry to the last
    acknowledgement, check every entry was read and acknowledged, clean the keys up."""

    def __init__(self, n: int) -> None:
        import redis

        self.n = n
        self.flow = f"bench-{uuid.uuid4().hex[:8]}"
        self.key = f"{self.flow}:items"
        self.client = redis.Redis.from_url(URL)
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *command: str, **env: str) -> None:
        self.processes.append(
            subprocess.Popen(
                [sys.executable, *command],
                env={**os.environ, "PYTHONPATH": SRC, **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )

    def consumers(self) -> int:
        try:
            groups = self.client.xinfo_groups(self.key)
        except Exception:
            return 0
        return sum(int(group["consumers"]) for group in groups if group["name"] == b"consume")

    def wait_consumers(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while self.consumers() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} consumer(s) did not start")
            time.sleep(0.01)

    def timed(self) -> float:
        """Seconds from the first entry added to the last one acknowledged."""
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            groups = self.client.xinfo_groups(self.key)
            group = next((g for g in groups if g["name"] == b"consume"), None)
            if group and group["entries-read"] == self.n and group["pending"] == 0:
                done = time.time()
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"not all {self.n} entries acknowledged: {group}")
            read_all = group is not None and group["entries-read"] == self.n
            time.sleep(POLL_SECONDS if read_all else POLL_FAR_SECONDS)
        return done - int(self._first.split(b"-")[0]) / 1000

    def watch_first(self) -> None:
        """Remember the first entry's id before trimming can take it away."""
        deadline = time.monotonic() + 60
        while True:
            found = self.client.xrange(self.key, count=1)
            if found:
                self._first = found[0][0]
                return
            if time.monotonic() > deadline:
                raise TimeoutError("nothing was published")
            time.sleep(0.0005)

    def finish(self) -> None:
        for process in self.processes:
            try:
                _, err = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"exit code {process.returncode}: {err.decode()[-500:]}")

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        keys = list(self.client.scan_iter(match=f"{self.flow}:*"))
        if keys:
            self.client.delete(*keys)
        self.client.close()


def weirflow_run(n: int, consumers: int = 1, work_ms: float = 0) -> float:
    run = RedisRun(n)
    try:
        env = {"BENCH_FLOW": run.flow, "BENCH_N": str(n), "BENCH_WORK_MS": str(work_ms)}
        weirflow = (
            "-m",
            "weirflow",
            "run",
            str(SERVICE),
            "--broker",
            URL,
            "--log-level",
            "WARNING",
        )
        for _ in range(consumers):
            run.start(*weirflow, "--pipelines", "consume", **env)
        run.wait_consumers(consumers)
        run.start(*weirflow, "--pipelines", "produce", **env)
        run.watch_first()
        seconds = run.timed()
        run.finish()
        return seconds
    finally:
        run.close()


def floor_run(n: int) -> float:
    run = RedisRun(n)
    try:
        run.client.xgroup_create(run.key, "consume", "0", mkstream=True)
        run.start("-c", FLOOR_CONSUMER, URL, run.key, str(n))
        run.wait_consumers(1)
        run.start("-c", FLOOR_PRODUCER, URL, run.key, str(n))
        run.watch_first()
        seconds = run.timed()
        run.finish()
        return seconds
    finally:
        run.close()


class RedisCase:
    """A case whose implementations are timed runs of processes (see the module docstring)."""

    def __init__(self, name: str, full_n: int, quick_n: int, runs: dict[str, object]) -> None:
        self.name = name
        self.full_n = full_n
        self.quick_n = quick_n
        self.runs = runs

    def measure(self, settings: Settings, progress: Progress) -> list[Result]:
        n = self.quick_n if settings.quick else self.full_n
        times: dict[str, list[float]] = {label: [] for label in self.runs}
        errors: dict[str, str] = {}
        for _ in range(settings.reps):  # in turns, so a slower spell of the machine hits all
            for label, run in self.runs.items():
                if label in errors:
                    continue
                try:
                    times[label].append(run(n))  # type: ignore[operator]
                except Exception as failure:  # reported in the table
                    errors[label] = f"{type(failure).__name__}: {failure}"
        results = []
        for label in self.runs:
            error = errors.get(label, "")
            best = min(times[label]) if times[label] else None
            result = Result(
                case=self.name,
                implementation=label,
                library="weirflow" if label.startswith("weirflow") else "baseline",
                variant=label,
                n=n,
                metric=ITEMS_PER_S,
                value=None if best is None else n / best,
                seconds=best,
                runs=[n / t for t in times[label]],
                error=error,
            )
            results.append(result)
            progress(result)
        self._ratios(results)
        return results

    def _ratios(self, results: list[Result]) -> None:
        by_label = {r.implementation: r for r in results if r.value}
        if self.name == "redis-stream" and "floor" in by_label and "weirflow" in by_label:
            ratio = by_label["weirflow"].value / by_label["floor"].value  # type: ignore[operator]
            by_label["weirflow"].note = f"{ratio:.0%} of the floor (target >= 80%)"
            by_label["weirflow"].details["vs_floor"] = ratio
        one, two = by_label.get("weirflow 1 consumer"), by_label.get("weirflow 2 consumers")
        if one and two:
            speedup = two.value / one.value  # type: ignore[operator]
            two.note = f"{speedup:.2f}x one consumer (target >= 1.8x)"
            two.details["speedup"] = speedup


def cases() -> list[RedisCase]:
    """The cases of this module, in report order."""
    return [
        RedisCase(
            "redis-stream",
            200_000,
            20_000,
            {"floor": floor_run, "weirflow": lambda n: weirflow_run(n)},
        ),
        RedisCase(
            "redis-scale-out",
            4_000,
            1_000,
            {
                "weirflow 1 consumer": lambda n: weirflow_run(n, 1, 1.0),
                "weirflow 2 consumers": lambda n: weirflow_run(n, 2, 1.0),
            },
        ),
    ]
