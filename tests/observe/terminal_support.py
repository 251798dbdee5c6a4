"""Programs run with stderr on a real pseudo-terminal (or on a pipe), for the progress tests."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str  # as the terminal received it (carriage returns and cursor moves included)

    def final_lines(self) -> dict[str, str]:
        """The last text each line showed, by its name (the part before ``:``)."""
        last: dict[str, str] = {}
        for piece in re.split(r"[\r\n]", ANSI.sub("\n", self.stderr)):
            name, colon, rest = piece.partition(":")
            if colon and rest.strip():
                last[name.strip()] = rest.strip()
        return last


def script(tmp_path: Path, code: str, name: str = "program.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def run(args: list[str], cwd: Path, terminal: bool, timeout: float = 60) -> Ran:
    """``python ARGS`` with stderr on a pseudo-terminal of 120 columns (or a pipe)."""
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("CI", None)  # nothing changes under CI; keep the child's view plain
    env["COLUMNS"] = "120"
    if not terminal:
        process = subprocess.run(
            [sys.executable, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Ran(process.returncode, process.stdout, process.stderr)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        os.close(slave)
        stdout, _ = process.communicate(timeout=timeout)
    finally:
        reader.join(timeout)
        os.close(master)
    return Ran(process.returncode, stdout, b"".join(chunks).decode("utf-8", "replace"))
