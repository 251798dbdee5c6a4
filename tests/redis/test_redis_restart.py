"""Redis killed (SIGKILL) and started again mid-run, with AOF persistence: the writers and the
readers reconnect with backoff and nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy
from redis_support import SERVICE, SRC, PrivateRedis, eventually

from conftest import PG_URL, rows


def test_redis_killed_and_restarted_mid_run_loses_nothing(
    private_redis: PrivateRedis, tables: Any, pg: sqlalchemy.Engine, tmp_path: Path
) -> None:
    table, n = tables(), 400
    settings = {
        "WF_FLOW": "restart",  # the server is the test's own
        "WF_TABLE": table,
        "WF_N": str(n),
        "WF_PRODUCE_SLEEP": "0.01",
        "WF_KIND": "thread",
    }
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "weirflow", "run", str(SERVICE), "--broker", private_redis.url],
            env={**os.environ, "PYTHONPATH": SRC, "WF_PG": PG_URL, **settings},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        eventually(lambda: len(rows(pg, table)) >= 40, 60, "rows before the outage")
        private_redis.kill()
        eventually(lambda: "unreachable" in log.read_text(), 30, "the outage seen")
        private_redis.start()  # same port, same AOF
        code = process.wait(120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = log.read_text()
    assert code == 0, err
    assert sorted(row.id for row in rows(pg, table)) == list(range(n))
    assert "unreachable" in err
    assert "reachable again" in err
    assert "lost the group" not in err  # the AOF kept the groups
