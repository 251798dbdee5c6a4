"""The documentation builds offline with ``mkdocs build --strict``, and its pages keep the rule.

The rule: every Python block of a tutorial, a how-to guide, Getting started, Concepts or a
"Coming from" page is a file under ``examples/`` or ``docs/snippets/`` included with
pymdownx.snippets (``--8<-- "path"``), and each included file is run or checked by a test, so the
documentation cannot rot. ``test_snippets.py`` runs the snippets; the examples run in
``tests/test_examples.py`` and ``tests/mqtt/test_iot_example.py``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from weirflow.testing.pytest_plugin import in_ci, skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SNIPPETS = DOCS / "snippets"
RULED_PAGES = sorted(
    [
        *DOCS.glob("tutorials/*.md"),
        *DOCS.glob("guides/*.md"),
        *DOCS.glob("coming-from-*.md"),
        DOCS / "getting-started.md",
        DOCS / "concepts.md",
    ]
)
PYTHON_FENCES = {"python", "py", "python3", "py3", "pycon"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
INCLUDE = re.compile(r'^\s*-{1,}8<-{1,}\s*"(?P<path>[^"]+)"\s*$')
SECTION = "# --8<-- [start:{}]"


def fences(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """Each fenced block of a Markdown page: its first line number, language and lines."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if opened is None:
            index += 1
            continue
        fence, start = opened["fence"], index
        words = opened["info"].strip().lstrip("{").lstrip(".").split()
        language = words[0].lower() if words else ""
        body: list[str] = []
        index += 1
        while index < len(lines):
            stripped = lines[index].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(lines[index])
            index += 1
        index += 1
        yield start + 1, language, body


def includes(text: str) -> list[str]:
    """The files (``path`` or ``path:section``) a page includes."""
    return [match["path"] for line in text.splitlines() if (match := INCLUDE.match(line))]


def all_includes() -> dict[str, list[Path]]:
    """Every included file (relative to the project), and the pages that include it."""
    found: dict[str, list[Path]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for target in includes(page.read_text()):
            found.setdefault(target, []).append(page)
    return found


def test_the_rule_covers_the_tutorials_and_guides() -> None:
    names = {page.relative_to(DOCS).as_posix() for page in RULED_PAGES}
    assert {"getting-started.md", "concepts.md", "coming-from-pypeln.md"} <= names
    assert any(name.startswith("tutorials/") for name in names)
    assert any(name.startswith("guides/") for name in names)


@pytest.mark.parametrize("page", RULED_PAGES, ids=lambda page: page.relative_to(DOCS).as_posix())
def test_python_blocks_are_includes(page: Path) -> None:
    for line, language, body in fences(page.read_text()):
        if language not in PYTHON_FENCES:
            continue
        written = [text for text in body if text.strip() and not INCLUDE.match(text)]
        assert not written, (
            f"{page.relative_to(ROOT)}:{line}: a Python block written in the page; put the code "
            "in a file under docs/snippets/ (run by tests/docs/test_snippets.py) or examples/ "
            f'and include it with --8<-- "path": {written[:2]}'
        )
        assert body, f"{page.relative_to(ROOT)}:{line}: an empty Python block"


def test_the_fence_reader_sees_inline_code() -> None:
    page = (
        '```python\n--8<-- "docs/snippets/x.py"\n```\n\n    ```py title="a"\n    x = 1\n    ```\n'
    )
    blocks = list(fences(page))
    assert [(line, language) for line, language, _ in blocks] == [(1, "python"), (5, "py")]
    assert [text.strip() for text in blocks[1][2]] == ["x = 1"]


def test_every_included_file_exists_and_is_tested() -> None:
    found = all_includes()
    assert found, "no page includes a file"
    tests_text = {
        path: path.read_text()
        for path in (ROOT / "tests").rglob("*.py")
        if path.parent != Path(__file__).parent
    }
    deploy_checks = (Path(__file__).parent / "test_deploy_snippets.py").read_text()
    for target, pages in found.items():
        path_text, _, section = target.partition(":")
        path = ROOT / path_text
        where = f"{target} (included by {', '.join(p.name for p in pages)})"
        assert path.is_file(), f"{where}: no such file"
        if section:
            assert SECTION.format(section) in path.read_text(), f"{where}: no such section"
        if path.is_relative_to(ROOT / "examples"):
            assert _example_is_run(path, tests_text), f"{where}: no test runs this example"
        elif path.parent == SNIPPETS and path.suffix == ".py":
            pass  # every one of them runs in test_snippets.py
        elif path.parent == SNIPPETS / "graphs" and path.suffix == ".mmd":
            pass  # every one of them is compared with its example in test_snippets.py
        else:
            relative = path.relative_to(ROOT).as_posix()
            assert relative in deploy_checks, f"{where}: test_deploy_snippets.py checks nothing"


def _example_is_run(path: Path, tests_text: dict[Path, str]) -> bool:
    """Whether a test runs the example (or, for a helper module, an example that imports it)."""
    if any(f'"{path.name}"' in text for text in tests_text.values()):
        return True
    importers = [
        example
        for example in path.parent.glob("*.py")
        if f"from {path.stem} import" in example.read_text() and example != path
    ]
    return any(_example_is_run(example, tests_text) for example in importers)


def test_every_snippet_is_shown_somewhere() -> None:
    shown = {target.partition(":")[0] for target in all_includes()}
    for path in sorted(SNIPPETS.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(ROOT).as_posix()
            assert relative in shown, f"{relative}: no page includes it; remove it or show it"


def _offline() -> list[str]:
    """A command prefix that cuts the network (a new network namespace), or [] if none works."""
    unshare = shutil.which("unshare")
    if unshare is not None:
        trial = subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=30)
        if trial.returncode == 0:
            return [unshare, "-n"]
    return []


@pytest.mark.timeout(180)  # about 5 s alone; more on a machine busy with other tests
def test_the_site_builds_offline_in_strict_mode(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        skip_or_fail("the docs extra is not installed: pip install -e '.[docs]'")
    offline = _offline()
    if not offline and in_ci():
        pytest.fail("CI: cannot cut the network (unshare -n) to prove the build is offline")
    result = subprocess.run(
        [
            *offline,
            *(sys.executable, "-m", "mkdocs", "build", "--strict"),
            *("--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    site = tmp_path / "site"
    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ("FlowBuilder", "add_pipeline", "with_core_logic", "launch_flow", "check_storage"):
        assert name in api, f"the API reference lost {name}"
    assert ":class:" not in api  # roles read as code (scripts/griffe_examples.py)
    assert '<span class="doc-section-title">Examples:</span>' in api  # doctests shown as code
    concepts = (site / "concepts" / "index.html").read_text()
    assert '<pre class="mermaid">' in concepts  # the graphs are Mermaid, drawn in the browser
    assert "fonts.googleapis.com" not in (site / "index.html").read_text()
