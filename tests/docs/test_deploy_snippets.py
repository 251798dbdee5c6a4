"""The deployment files the how-to guides show: a systemd unit, a Dockerfile, a Kubernetes manifest.

Checked as far as this machine can take them, each against the real thing where one is here:

- ``docs/snippets/systemd/readings.service``: ``systemd-analyze verify`` accepts it (paths made
  local), and its ``ExecStart`` run as systemd runs it, then stopped as systemd stops it (SIGTERM
  to the main process, ``KillMode=mixed``), ends within ``TimeoutStopSec`` with exit code 0;
- ``docs/snippets/deploy/Dockerfile`` and ``docs/snippets/deploy/kubernetes.yaml``: they agree
  (port, probes, grace period), and the image's ``CMD`` run here serves ``/healthz`` and
  ``/readyz`` and stops on SIGTERM. (No image is built: the machine has no container daemon.)
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from weirflow.testing import free_port
from weirflow.testing.pytest_plugin import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"
UNIT = SNIPPETS / "systemd" / "readings.service"
DOCKERFILE = SNIPPETS / "deploy" / "Dockerfile"
KUBERNETES = SNIPPETS / "deploy" / "kubernetes.yaml"
SERVICE = SNIPPETS / "first_service.py"  # the service file the deployments run
VENV_BIN = Path(sys.executable).parent


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def local_unit(tmp_path: Path) -> str:
    """The unit with its paths moved under ``tmp_path`` and the running user as its user."""
    (tmp_path / "data").mkdir(exist_ok=True)
    shutil.copy(SERVICE, tmp_path / "service.py")
    (tmp_path / "secrets.env").write_text("PRICES_API_KEY=not-a-real-key\n")
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True, check=True).stdout
    text = UNIT.read_text()
    text = text.replace("/srv/readings/.venv/bin/", f"{VENV_BIN}/")
    text = text.replace("/srv/readings", str(tmp_path))
    text = text.replace("/etc/readings/secrets.env", str(tmp_path / "secrets.env"))
    text = text.replace("User=readings", f"User={user}")
    return text.replace("Group=readings", f"Group={group.strip()}")


def until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_unit_says_what_the_guide_says() -> None:
    service = unit()["Service"]
    assert service["ExecStart"].split()[1:3] == ["run", "/srv/readings/service.py"]
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert int(service["TimeoutStopSec"]) > 5  # weirflow gives the runs in progress 5 s
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # a configuration error
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        skip_or_fail("systemd-analyze is not installed (Debian's systemd package)")
    path = tmp_path / "readings.service"
    path.write_text(local_unit(tmp_path))
    result = subprocess.run(
        [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "readings.service" not in result.stderr, result.stderr  # warnings name the unit


def test_the_unit_runs_and_stops_as_systemd_stops_it(tmp_path: Path) -> None:
    local = configparser.ConfigParser(interpolation=None, strict=False)
    local.optionxform = str  # type: ignore[method-assign]
    local.read_string(local_unit(tmp_path))
    service = local["Service"]
    environment = dict(
        line.split("=", 1) for line in Path(service["EnvironmentFile"]).read_text().splitlines()
    )
    process = subprocess.Popen(
        shlex.split(service["ExecStart"]),
        cwd=service["WorkingDirectory"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **environment, "PYTHONPATH": str(ROOT / "src")},
        start_new_session=True,
    )
    readings = Path(service["WorkingDirectory"]) / "data" / "first" / "readings.jsonl"
    try:
        until(lambda: readings.exists() and readings.read_text().strip(), 30, "a first reading")
        process.send_signal(getattr(signal, service["KillSignal"]))  # KillMode=mixed: main only
        stdout, stderr = process.communicate(timeout=int(service["TimeoutStopSec"]))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, stderr
    assert "readings: " in stdout  # the summary, printed after a graceful stop
    assert "stopping the flow" in stderr


def dockerfile_command() -> list[str]:
    instructions = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD")]
    assert len(instructions) == 1
    command: list[str] = json.loads(instructions[0].removeprefix("CMD").strip())
    return command


def test_the_dockerfile_and_the_manifest_agree() -> None:
    command = dockerfile_command()
    assert command[:3] == ["weirflow", "run", "service.py"]
    address = command[command.index("--http") + 1]
    port = int(address.rsplit(":", 1)[1])
    text = DOCKERFILE.read_text()
    assert f"EXPOSE {port}" in text
    assert "STOPSIGNAL SIGTERM" in text
    assert "COPY service.py ." in text
    (deployment,) = yaml.safe_load_all(KUBERNETES.read_text())
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 1  # a scheduled pipeline must not run twice
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > 5
    (container,) = pod["containers"]
    assert "command" not in container
    assert "args" not in container
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    assert ports == {"http": port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def _serves_health() -> bool:
    """Whether ``weirflow run`` takes ``--http`` (the option that serves the probes)."""
    result = subprocess.run(
        [sys.executable, "-m", "weirflow", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    return "--http" in result.stdout


def test_the_image_command_serves_the_probes_and_stops_on_sigterm(tmp_path: Path) -> None:
    if not _serves_health():
        pytest.xfail("this weirflow has no `weirflow run --http` yet: nothing serves the probes")
    shutil.copy(SERVICE, tmp_path / "service.py")
    port = free_port()
    command = dockerfile_command()
    command[command.index("--http") + 1] = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(VENV_BIN / command[0]), *command[1:]],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def answers(path: str) -> bool:
        try:
            return httpx.get(base + path, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        until(lambda: answers("/healthz"), 30, "/healthz")
        until(lambda: answers("/readyz"), 30, "/readyz")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, stderr
