"""How ``weirflow run`` reports a failed flow: operational failures in one line, user bugs with
their traceback starting at the user's own frame."""

from __future__ import annotations

from pathlib import Path

from weirflow.testing import free_port

from .cli_support import weirflow, write


def test_a_refused_connection_is_one_line_and_its_traceback_goes_to_debug(tmp_path: Path) -> None:
    port = free_port()
    write(
        tmp_path,
        f"""
        from weirflow import FlowBuilder

        builder = FlowBuilder()
        builder.add_pipeline("poll").with_http_connector(
            source="http://127.0.0.1:{port}/numbers", retries=0
        ).with_storage("jsonl", path="out.jsonl")
        """,
    )
    process = weirflow("run", "service.py", cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert "httpcore" not in stderr
    failed = [line for line in stderr.splitlines() if "pipeline 'poll' failed" in line]
    assert failed, stderr
    assert "poll.http" in failed[0] or "stage 'poll." in failed[0]
    assert f"127.0.0.1:{port}" in failed[0]
    assert "the flow failed: 1 pipeline(s) failed" in stderr

    process = weirflow("run", "service.py", "--log-level", "DEBUG", cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" in stderr  # kept, at DEBUG


def test_a_bug_in_core_logic_keeps_its_traceback_from_the_users_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        from weirflow import FlowBuilder

        def summarise(numbers):
            return {"mean": sum(numbers) / len(numbers)}

        builder = FlowBuilder()
        builder.add_pipeline("report").with_core_logic(lambda: []).with_core_logic(summarise)
        """,
    )
    process = weirflow("run", "service.py", cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "ZeroDivisionError" in stderr
    assert 'service.py", line 5, in summarise' in stderr
    assert 'return {"mean": sum(numbers) / len(numbers)}' in stderr
    assert "_worker.py" not in stderr  # the engine's frames are trimmed
