"""The example of "Testing your service" is a user's test file: run it with pytest, as its
authors would, and check every test in it passed (none skipped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from weirflow.testing import mosquitto_command
from weirflow.testing.pytest_plugin import skip_or_fail

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "testing"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_the_example_test_file_passes() -> None:
    if mosquitto_command() is None:  # its MQTT test would skip
        skip_or_fail("the mosquitto program is not installed (apt install mosquitto)")
    # a user's project: its own options (none here), pytest's default way of importing
    command = ["-m", "pytest", "test_my_service.py", "-p", "no:cacheprovider", "-o", "addopts="]
    result = subprocess.run(
        [sys.executable, *command, "-q", "-rs"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout
    assert "skipped" not in result.stdout
