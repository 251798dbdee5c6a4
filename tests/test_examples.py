"""Every example and the demo service run, as a user runs them, and do what they say."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
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


def stored_integers(path: Path) -> int:
    """Rows in the example's ``integers`` table (0 before the pipeline has made it)."""
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(path, timeout=5)) as connection:
            return int(connection.execute("SELECT count(*) FROM integers").fetchone()[0])
    except sqlite3.OperationalError:  # no table yet
        return 0


@pytest.mark.parametrize("mode", [[], ["--processes"]], ids=["threads", "processes"])
def test_multiple_pipelines(tmp_path: Path, mode: list[str]) -> None:
    """Stopped with Ctrl-C once integers are stored, however long its processes took to start."""
    database = tmp_path / "data" / "multiple_pipelines" / "integers.sqlite"
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "multiple_pipelines.py"), "120", *mode],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if stored_integers(database):
                break
            time.sleep(0.05)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # as a terminal sends Ctrl-C
        output, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    assert output.startswith("sent ")
    assert stored_integers(database) >= 1


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


@pytest.mark.parametrize(
    "example", sorted(path.name for path in EXAMPLES.glob("*.py")), ids=lambda name: name
)
def test_weirflow_check_on_every_example_is_ok_or_a_clear_error(
    tmp_path: Path, example: str
) -> None:
    """Files meant to run as scripts (their flow needs a base URL their __main__ block makes)
    get a message saying so, never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "weirflow", "check", str(EXAMPLES / example)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert result.stderr.startswith(f"weirflow: {EXAMPLES / example}"), result.stderr
