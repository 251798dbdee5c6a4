"""The guides' code blocks are files the tests run: every ``--8<-- "path[:section]"`` in them
names a file that exists (and a section marked in it), under examples/ or docs/snippets/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ["testing.md", "airflow.md", "prefect.md"]
INCLUDE = re.compile(r'^--8<-- "([^":]+)(?::([\w-]+))?"$', re.MULTILINE)


@pytest.mark.parametrize("guide", GUIDES)
def test_every_included_file_exists_and_is_run_by_tests(guide: str) -> None:
    text = (ROOT / "docs" / "guides" / guide).read_text()
    includes = INCLUDE.findall(text)
    assert includes, f"{guide} includes no file"
    for path, section in includes:
        assert path.startswith(("examples/", "docs/snippets/")), path
        source = (ROOT / path).read_text()
        if section:
            assert f"# --8<-- [start:{section}]" in source, (path, section)
            assert f"# --8<-- [end:{section}]" in source, (path, section)
        name = Path(path).name
        tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
        assert name in tests, f"no test names {name}"
    blocks = re.findall(r"```\w*\n(.*?)```", text, re.DOTALL)
    assert all(INCLUDE.fullmatch(block.strip()) for block in blocks), "a block not from a file"
