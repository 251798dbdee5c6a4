"""A finite job split over real ``weirflow run`` processes joined by Redis, stored in PostgreSQL:
shared work, a consumer killed mid-stream, the whole file in one process, poison items and
two pipelines reading one stream."""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Any

import redis
import sqlalchemy
from redis_support import eventually, finish, summary_items

from conftest import rows


def group_consumers(url: str, flow: str, group: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        for found in client.xinfo_groups(f"{flow}:jobs"):
            if found["name"].decode() == group:
                return int(found["consumers"])
        return 0
    except redis.ResponseError:
        return 0
    finally:
        client.close()


def env(flow: str, table: str, **more: Any) -> dict[str, str]:
    return {"WF_FLOW": flow, "WF_TABLE": table, **{k: str(v) for k, v in more.items()}}


def test_a_finite_job_split_over_two_consumers_ends_everywhere_with_each_row_once(
    redis_url: str, flow_name: str, tables: Any, pg: sqlalchemy.Engine, run_service: Any
) -> None:
    table, n = tables(), 600
    settings = env(flow_name, table, WF_N=n, WF_SLEEP=0.002, WF_IN_FLIGHT=20)
    consumers = [
        run_service(
            "run", "--pipelines", "work", "--broker", redis_url, WF_CONSUMER=name, **settings
        )
        for name in ("a", "b")
    ]
    eventually(lambda: group_consumers(redis_url, flow_name, "work") == 2, 30, "two consumers")
    producer = run_service("run", "--pipelines", "produce", "--broker", redis_url, **settings)
    outcomes = [finish(process) for process in [producer, *consumers]]
    for code, out, err in outcomes:
        assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    stored = rows(pg, table)
    assert sorted(row.id for row in stored) == list(range(n))  # every row once
    shares = Counter(row.consumer for row in stored)
    assert shares["a"] > 0, shares
    assert shares["b"] > 0, shares
    assert summary_items(outcomes[0][1], "produce") == n
    assert sum(summary_items(out, "work") for _, out, _ in outcomes[1:]) >= n
    assert group_consumers(redis_url, flow_name, "work") == 0  # both left the group on exit


def test_a_consumer_killed_mid_stream_loses_nothing(
    redis_url: str, flow_name: str, tables: Any, pg: sqlalchemy.Engine, run_service: Any
) -> None:
    table, n = tables(), 1000
    settings = env(flow_name, table, WF_N=n, WF_SLEEP=0.01, WF_IN_FLIGHT=40, WF_CLAIM_IDLE=1)
    doomed = run_service(
        "run", "--pipelines", "work", "--broker", redis_url, WF_CONSUMER="doomed", **settings
    )
    eventually(lambda: group_consumers(redis_url, flow_name, "work") == 1, 30, "a consumer")
    producer = run_service("run", "--pipelines", "produce", "--broker", redis_url, **settings)
    eventually(lambda: len(rows(pg, table)) >= 50, 60, "the doomed consumer stores rows")
    survivor = run_service(
        "run", "--pipelines", "work", "--broker", redis_url, WF_CONSUMER="survivor", **settings
    )
    eventually(lambda: group_consumers(redis_url, flow_name, "work") == 2, 30, "two consumers")
    client = redis.Redis.from_url(redis_url)
    try:
        os.killpg(doomed.pid, signal.SIGKILL)  # its pending entries are claimed by the survivor
        held = client.xpending(f"{flow_name}:jobs", "work")["consumers"]
    finally:
        client.close()
    doomed.communicate()
    assert any(int(c["pending"]) > 0 for c in held)  # killed holding entries
    for process in (producer, survivor):
        code, out, err = finish(process, 120)
        assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    stored = rows(pg, table)
    assert sorted(row.id for row in stored) == list(range(n))  # nothing lost
    assert {row.consumer for row in stored} == {"doomed", "survivor"}


def test_the_whole_file_in_one_process_goes_through_redis(
    redis_url: str, flow_name: str, tables: Any, pg: sqlalchemy.Engine, run_service: Any
) -> None:
    table, n = tables(), 300
    code, out, err = finish(
        run_service("run", "--broker", redis_url, **env(flow_name, table, WF_N=n, WF_KIND="thread"))
    )
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert sorted(row.id for row in rows(pg, table)) == list(range(n))
    client = redis.Redis.from_url(redis_url)
    try:
        [group] = client.xinfo_groups(f"{flow_name}:jobs")
        assert group["entries-read"] == n
        assert group["pending"] == 0
        assert client.xlen(f"{flow_name}:jobs") == 0  # trimmed once every group acknowledged
        assert client.scan(match=f"{flow_name}:@instance:*")[1] == []  # deregistered
    finally:
        client.close()


def test_a_poison_item_goes_to_the_dead_letters_after_max_deliveries(
    redis_url: str, flow_name: str, tables: Any, pg: sqlalchemy.Engine, run_service: Any
) -> None:
    table, n = tables(), 50
    settings = env(flow_name, table, WF_N=n, WF_POISON=13, WF_MAX_DELIVERIES=3, WF_CLAIM_IDLE=0.5)
    code, out, err = finish(run_service("run", "--broker", redis_url, **settings))
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert sorted(row.id for row in rows(pg, table)) == [i for i in range(n) if i != 13]
    client = redis.Redis.from_url(redis_url)
    try:
        [(_, dead)] = client.xrange(f"{flow_name}:jobs:dead")
        assert dead[b"json"] == b'{"id":13}'  # the original fields
        assert b"ValueError: poison item 13" in dead[b"error"]
        assert dead[b"pipeline"] == b"work"
        assert dead[b"deliveries"] == b"3"
        [group] = client.xinfo_groups(f"{flow_name}:jobs")
        assert group["pending"] == 0
    finally:
        client.close()
    assert err.count("went to the dead letters") == 1  # logged once
    assert err.count("poison item 13") >= 3  # each failure is logged as it happens


def test_two_pipelines_reading_one_stream_each_get_every_item(
    redis_url: str, flow_name: str, tables: Any, pg: sqlalchemy.Engine, run_service: Any
) -> None:
    table, audit, n = tables(), tables(), 200
    settings = env(flow_name, table, WF_N=n, WF_AUDIT_TABLE=audit)
    readers = run_service("run", "--pipelines", "work,audit", "--broker", redis_url, **settings)
    producer = run_service("run", "--pipelines", "produce", "--broker", redis_url, **settings)
    for process in (producer, readers):
        code, out, err = finish(process)
        assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert sorted(row.id for row in rows(pg, table)) == list(range(n))
    assert sorted(row.id for row in rows(pg, audit)) == list(range(n))
