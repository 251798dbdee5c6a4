"""The IoT scenario (HTTP and MQTT into PostgreSQL, merged and published) runs end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy

from weirflow.testing.pytest_plugin import require_server

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_iot_scenario_stores_and_publishes(tmp_path: Path) -> None:
    require_server("Mosquitto", "127.0.0.1", 1883)
    require_server("PostgreSQL", "127.0.0.1", 5432)
    name = f"iot_{uuid.uuid4().hex[:12]}"  # tables and topics of this run only
    engine = sqlalchemy.create_engine(DATABASE)
    try:
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "iot_mqtt_postgres.py"), "4"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT / "src"),
                "WEIRFLOW_DATABASE_URL": DATABASE,
                "WEIRFLOW_IOT_NAME": name,
            },
        )
        assert result.returncode == 0, result.stderr
        lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
        assert not lines["core_logic"].endswith(" 0 items")
        with engine.connect() as connection:
            stored = connection.execute(
                sqlalchemy.text(f"select count(*) from {name}_mqtt_numbers")
            )
            assert stored.scalar_one() > 0
            polled = connection.execute(
                sqlalchemy.text(f"select count(*) from {name}_http_numbers")
            )
            assert polled.scalar_one() > 0
    finally:
        with engine.begin() as connection:
            for table in (f"{name}_http_numbers", f"{name}_mqtt_numbers"):
                connection.execute(sqlalchemy.text(f"drop table if exists {table}"))
        engine.dispose()
