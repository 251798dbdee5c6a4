"""Helpers for the command-line tests: service files and ``weirflow`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def write(tmp_path: Path, code: str, name: str = "service.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def weirflow(
    *args: str, cwd: Path, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    """``python -m weirflow ARGS`` as a user starts it: in a session (process group) of its own."""
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "weirflow", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})},
        start_new_session=True,
    )


def summary_items(stdout: str, pipeline: str) -> int:
    """The item count of ``pipeline`` in the summary ``weirflow run`` prints."""
    for line in stdout.splitlines():
        if line.startswith(f"{pipeline}: ") and "item(s)" in line:
            return int(line.split(", ")[1].split()[0])
    raise AssertionError(f"no summary line for {pipeline!r} in {stdout!r}")


def marked(mark: str) -> list[int]:
    """The processes whose environment holds ``mark`` (inherited by every descendant)."""
    found = []
    needle = f"WEIRFLOW_TEST_MARK={mark}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0"):
                found.append(int(entry))
    return found
