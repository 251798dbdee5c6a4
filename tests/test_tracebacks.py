"""What a user reads when a worker raises: their own file, line and source first.

The engine's frames (worker loop, operations, injected calls) are trimmed from the worker's part
of the traceback; the full traceback is logged at DEBUG. Worker processes keep the real file name
on the functions they receive by value, whatever the cloudpickle version.
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from types import ModuleType, TracebackType

import pytest

import weirflow
from weirflow._runtime._pickling import dumps_by_value

from .conftest import crosses_process

HERE = str(Path(__file__).resolve())
ENGINE = str(Path(weirflow.__file__).resolve().parent / "_runtime")


def _frames(tb: TracebackType | None) -> list[str]:
    return [frame.filename for frame in traceback.extract_tb(tb)]


def test_a_function_sent_by_value_keeps_its_file_name_and_source_line() -> None:
    def local(x: int) -> int:  # a closure: cloudpickle sends it by value
        return x + offset

    offset = 1
    copy = pickle.loads(dumps_by_value(local))
    assert copy(1) == 2
    assert copy.__code__.co_filename == HERE
    assert copy.__code__.co_firstlineno == local.__code__.co_firstlineno


def test_the_worker_part_of_a_traceback_starts_at_the_users_frame(pl: ModuleType) -> None:
    def parse(x: int) -> int:
        if x == 3:
            raise ValueError("bad record", x)
        return x

    with pytest.raises(ValueError, match="bad record") as info:
        list(pl.map(parse, range(10)))
    if crosses_process(pl):
        remote = str(info.value.__cause__)
        worker_part = remote.split("Traceback (most recent call last):\n", 1)[1]
        first = worker_part.splitlines()[0]
        assert f'File "{HERE}"' in first, remote
        assert "in parse" in first
        assert 'raise ValueError("bad record", x)' in worker_part
        assert ENGINE not in worker_part
        return
    frames = _frames(info.value.__traceback__)
    user = [i for i, name in enumerate(frames) if name == HERE]
    assert user, frames
    if pl is not weirflow.sync:  # a sync stage runs inline, inside the consumer's own frames
        # after the consumer's frames (this test, then the stage's iteration), the worker's part
        # starts at parse: no engine frame stands between the re-raise and the user's function
        last_engine = max(i for i, name in enumerate(frames) if name.startswith(ENGINE))
        assert frames[last_engine + 1] == HERE
        assert traceback.extract_tb(info.value.__traceback__)[last_engine + 1].name == "parse"


def test_the_full_traceback_is_logged_at_debug(
    cpl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    def parse(x: int) -> int:
        raise ValueError("bad record")

    with (
        caplog.at_level(logging.DEBUG, logger="weirflow"),
        pytest.raises(ValueError, match="bad record"),
    ):
        list(cpl.map(parse, [1]))
    logged = "\n".join(
        record.getMessage() + (record.exc_text or "")
        for record in caplog.records
        if record.levelno == logging.DEBUG
    )
    assert "full traceback" in logged
    if not crosses_process(cpl):
        formatted = "".join(
            "".join(traceback.format_exception(*record.exc_info))
            for record in caplog.records
            if record.exc_info
        )
        assert "_worker.py" in formatted  # the engine's frames are there, at DEBUG
    else:
        assert "_worker.py" in logged


def test_a_script_run_from_a_file_shows_its_own_file_and_line(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            """
            import weirflow as wf

            def parse(x):
                if x == 2:
                    raise KeyError("missing field 'id'")
                return x

            list(wf.process.map(parse, range(5), workers=2))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert f'File "{script}", line 6, in parse' in result.stderr
    assert "raise KeyError(\"missing field 'id'\")" in result.stderr
    assert "<dynamic-code>" not in result.stderr
