"""Every example and the demo service run, as a user runs them, and do what they say."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from weirflow.testing.pytest_plugin import skip_or_fail

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(tmp_path: Path, script: str, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_service(tmp_path: Path) -> None:
    output = run(tmp_path, "demo_service.py", "3")
    assert "pipeline 'report': every 1s after 1s" in output
    assert "reports: " in output
    numbers = json.loads((tmp_path / "data" / "demo" / "numbers.json").read_text())
    assert numbers
    assert all({"value", "datetime"} <= set(row) for row in numbers)
    assert (tmp_path / "data" / "demo" / "demo.sqlite").exists()


def test_engine_tour(tmp_path: Path) -> None:
    output = run(tmp_path, "engine_tour.py")
    assert "streamed 2000 readings through thread -> task -> sync stages" in output


def test_simple_http(tmp_path: Path) -> None:
    output = run(tmp_path, "simple_http.py", "1")
    assert output.startswith("stored ")
    rows = json.loads((tmp_path / "data" / "simple_http" / "integers.json").read_text())
    assert rows
    assert "Generated random number" in rows[0]


def test_http_with_configuration(tmp_path: Path) -> None:
    run(tmp_path, "http_with_configuration.py", "1.5")
    lines = (tmp_path / "data" / "http_with_configuration" / "rows.jsonl").read_text().splitlines()
    assert len(lines) >= 5  # the first run asks for five rows


@pytest.mark.parametrize("mode", [[], ["--processes"]], ids=["threads", "processes"])
def test_multiple_pipelines(tmp_path: Path, mode: list[str]) -> None:
    output = run(tmp_path, "multiple_pipelines.py", "3", *mode)
    assert output.startswith("sent ")
    assert (tmp_path / "data" / "multiple_pipelines" / "integers.sqlite").exists()


def test_local_storages(tmp_path: Path) -> None:
    output = run(tmp_path, "local_storages.py", "1.5")
    for kind in ("json", "jsonl", "csv", "sql"):
        assert f"letters_{kind}: " in output
    assert ": 0 rows" not in output


@pytest.mark.timeout(300)  # it starts a local Ray (seconds; a minute on a busy machine)
def test_ray_images_on_a_local_ray(tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is None:
        skip_or_fail("Ray is not installed: pip install 'weirflow[ray]'")
    output = run(tmp_path, "ray_images.py", "6", timeout=280)
    assert "blurred 6 images on" in output
    assert "Ray actor(s) of a local Ray" in output
    rows = (tmp_path / "data" / "ray_images" / "blurred.jsonl").read_text().splitlines()
    assert sorted(json.loads(row)["number"] for row in rows) == list(range(6))


def test_weirflow_check_on_the_demo_service(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "weirflow", "check", str(EXAMPLES / "demo_service.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.returncode == 0, result.stderr
    assert "report.send: send 'http_post'" in result.stdout


def test_scaling_out_runs_its_heavy_pipeline_in_a_second_process(
    tmp_path: Path, redis_url: str
) -> None:
    import sqlalchemy

    from weirflow.testing.pytest_plugin import require_server

    require_server("PostgreSQL", "127.0.0.1", 5432)
    import uuid

    database = "postgresql+psycopg://postgres@127.0.0.1/test"
    engine = sqlalchemy.create_engine(database, poolclass=sqlalchemy.pool.NullPool)
    name = f"scaling_out_{uuid.uuid4().hex[:8]}"
    table_gone = sqlalchemy.text(f"DROP TABLE IF EXISTS {name}_analysed")
    with engine.begin() as connection:
        connection.execute(table_gone)
    try:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "scaling_out.py")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={
                **os.environ,
                "PYTHONPATH": SRC,
                "SCALING_OUT_READINGS": "400",
                "SCALING_OUT_NAME": name,
                "WEIRFLOW_BROKER": redis_url,
            },
        )
        assert result.returncode == 0, result.stderr
        assert "readings: 400 items" in result.stdout
        assert "analyse (second process): exit code 0" in result.stdout
        with engine.connect() as connection:
            select = sqlalchemy.text(f"SELECT id FROM {name}_analysed")
            ids = connection.execute(select).scalars()
            assert sorted(ids) == list(range(400))
        alerts = (tmp_path / "data" / "scaling_out" / "alerts.jsonl").read_text().splitlines()
        assert alerts
        assert all(json.loads(line)["celsius"] > 28 for line in alerts)
    finally:
        with engine.begin() as connection:
            connection.execute(table_gone)
        engine.dispose()
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{name}:*"):
            client.delete(key)
        client.close()
