"""Service files as users write them: the README's example, ``check`` targets, ``--connect``,
load errors with file and line, ``launch_flow`` at a file's top level, bad time limits."""

from __future__ import annotations

import json
import math
import re
import socket
from pathlib import Path

import pytest

from weirflow import ConfigError, FlowBuilder
from weirflow.testing_http import LocalHTTPServer

from .cli_support import weirflow, write

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_service() -> str:
    """The code of the README's "A service in one file", as written there."""
    text = README.read_text()
    section = text.split("## A service in one file", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_service_checks_as_one_flow_without_running(tmp_path: Path) -> None:
    service = write(tmp_path, readme_service())
    process = weirflow("check", str(service), cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "flow with 2 pipeline(s)" in stdout
    assert "readings.http_connector: http GET -> http://localhost:8025/numbers" in stdout
    assert "readings.storage: storage 'json' -> path 'data/readings.json'" in stdout
    assert "report.send: send 'http_post' -> http://localhost:8026/reports" in stdout
    assert not (tmp_path / "data").exists()  # its launch_flow did not run


def test_the_readme_service_runs(tmp_path: Path) -> None:
    with LocalHTTPServer() as server:
        server.route("GET", "/numbers", {"numbers": [1, 2, 3]})
        server.route("POST", "/reports", (201, {"ok": True}))
        code = readme_service().replace("http://localhost:8025", server.url)
        code = code.replace("http://localhost:8026", server.url)
        service = write(tmp_path, code)
        process = weirflow("run", str(service), "--execution-seconds", "2", cwd=tmp_path)
        stdout, stderr = process.communicate(timeout=60)
        requests = [(r.method, r.path) for r in server.requests]
    assert process.returncode == 0, stderr
    assert "readings: 1 run(s), 1 item(s)" in stdout
    [record] = json.loads((tmp_path / "data" / "readings.json").read_text())
    assert record["numbers"] == [1, 2, 3]
    assert ("GET", "/numbers") in requests
    assert "flow starting: 2 pipeline(s) in threads: readings (every 10s)" in stderr
    assert re.search(r"pipeline 'readings': run finished: 1 item\(s\) in \d", stderr)
    assert "time limit of 2s reached: stopping the flow" in stderr


def test_run_uses_the_files_own_time_limit(tmp_path: Path) -> None:
    service = write(
        tmp_path,
        """
        from weirflow import FlowBuilder
        builder = FlowBuilder()
        builder.add_pipeline("ticks", timedelta_seconds=0.1).with_core_logic(lambda: 1) \\
            .send(lambda item: None)
        builder.build().launch_flow(execution_seconds=0.5)
        """,
    )
    process = weirflow("run", str(service), cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "time limit of 0.5s reached" in stderr


def test_check_shows_targets_with_credentials_masked(tmp_path: Path) -> None:
    service = write(
        tmp_path,
        """
        from weirflow import FlowBuilder
        flow = FlowBuilder()
        flow.add_pipeline("poll").with_http_connector("http://h.example/x?apikey=S3CRET&n=1") \\
            .with_storage("sql", url="postgresql+psycopg://app:S3CRET@db.example/app",
                          table="readings") \\
            .send("mqtt", destination="broker.example", topic="out/readings")
        """,
    )
    process = weirflow("check", str(service), cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "S3CRET" not in stdout + stderr
    assert "-> http://h.example/x?apikey=***&n=1" in stdout
    assert "-> postgresql+psycopg://app:***@db.example/app, table 'readings'" in stdout
    assert "-> broker broker.example:1883, topic 'out/readings'" in stdout


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_connect_tries_each_target_once(tmp_path: Path) -> None:
    with LocalHTTPServer() as server:
        server.route("GET", "/numbers", [1, 2])
        service = write(
            tmp_path,
            f"""
            from weirflow import FlowBuilder
            flow = FlowBuilder()
            flow.add_pipeline("poll").with_http_connector("{server.url}/numbers") \\
                .with_storage("jsonl", path="out/numbers.jsonl") \\
                .send("http_post", destination="http://127.0.0.1:{closed_port()}/r")
            flow.add_pipeline("db").with_core_logic(lambda: 1) \\
                .with_storage("sql", url="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                              table="t")
            flow.add_pipeline("gone").with_core_logic(lambda: 1) \\
                .with_storage("sql", url="postgresql+psycopg://u:pw@127.0.0.1:{closed_port()}/x",
                              table="t")
            flow.add_pipeline("mqtt").with_core_logic(lambda: 1) \\
                .send("mqtt", destination="127.0.0.1", topic="probe/{closed_port()}") \\
                .send("mqtt", destination="127.0.0.1", port={closed_port()}, topic="p")
            """,
        )
        process = weirflow("check", str(service), "--connect", cwd=tmp_path)
        stdout, stderr = process.communicate(timeout=120)
        requests = [(r.method, r.path) for r in server.requests]
    assert process.returncode == 1, stderr
    lines = stdout.split("connections:\n", 1)[1].splitlines()
    found = {line.split(":")[0].strip(): line for line in lines}
    assert ": reachable:" in found["poll.http_connector"]
    assert ": reachable:" in found["poll.storage"]
    assert ": UNREACHABLE:" in found["poll.send"]
    assert ": reachable:" in found["db.storage"]
    assert ": UNREACHABLE:" in found["gone.storage"]
    assert "pw" not in found["gone.storage"].replace("psycopg", "")
    assert ": reachable:" in found["mqtt.send"]
    assert "MQTT connection" in found["mqtt.send"]
    assert ": UNREACHABLE:" in found["mqtt.send_2"]
    assert requests == [("GET", "/numbers")]  # one try, nothing sent
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("code", "line", "shown"),
    [
        ("import weirflow\n\nundefined_name()\n", 3, "NameError: name 'undefined_name'"),
        ("x = (\n", 1, "SyntaxError"),
        (
            "from weirflow import FlowBuilder\nb = FlowBuilder()\n"
            "b.add_pipeline('p', timedelta_seconds=-1)\n",
            3,
            "configuration error",
        ),
        (
            "from weirflow import FlowBuilder\nb = FlowBuilder()\n"
            "b.add_pipeline('p').with_core_logic(lambda: 1).send(lambda i: None)\n"
            "b.build().launch_flow(execution_seconds=float('nan'))\n",
            4,
            "configuration error: execution_seconds must be a finite number",
        ),
    ],
)
def test_load_errors_give_the_file_and_line(
    tmp_path: Path, code: str, line: int, shown: str
) -> None:
    service = write(tmp_path, code)
    process = weirflow("check", str(service), cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"{service}:{line}: " in stderr
    assert shown in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("value", ["inf", "-1", "nan", "0", "soon"])
def test_bad_execution_seconds_on_the_command_line(tmp_path: Path, value: str) -> None:
    service = write(tmp_path, "from weirflow import FlowBuilder\n")
    process = weirflow("run", str(service), f"--execution-seconds={value}", cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "--execution-seconds: must be a finite number of seconds > 0" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("value", [math.nan, math.inf, -1, 0, "60", True])
@pytest.mark.parametrize("use_threads", [True, False])
def test_bad_execution_seconds_in_launch_flow(value: object, use_threads: bool) -> None:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("p").with_core_logic(lambda: 1).send(lambda item: None)
    with pytest.raises(ConfigError, match="execution_seconds"):
        builder.build().launch_flow(execution_seconds=value)  # type: ignore[arg-type]


def test_check_and_connect_apply_the_stages_own_redaction(tmp_path: Path) -> None:
    port = closed_port()
    service = write(
        tmp_path,
        f"""
        from weirflow import FlowBuilder
        flow = FlowBuilder()
        flow.add_pipeline("w").with_http_connector(
            "http://127.0.0.1:{port}/data?city=Pl4nted&n=1", retries=0, redact=["city"]
        ).send("http_post", destination="http://127.0.0.1:{port}/in?city=Pl4nted",
               redact=["city"])
        """,
    )
    process = weirflow("check", str(service), "--connect", cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert "Pl4nted" not in stdout + stderr
    assert f"-> http://127.0.0.1:{port}/data?city=***&n=1" in stdout
    assert "w.http_connector: UNREACHABLE" in stdout
