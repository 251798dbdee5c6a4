"""The status page in a real headless Chromium (Debian's ``chromium`` driven by Playwright with
``executable_path``; no browser is downloaded): pipeline names visible, numbers that update by
themselves, the last error shown, the graph drawn, no page error, nothing fetched from another
origin. A screenshot is kept in ``test-artifacts/status-page-{threads,processes}.png``; pipelines in
threads and in processes alike."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weirflow import FlowBuilder
from weirflow.testing.pytest_plugin import skip_or_fail

from .serving import serving

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[browser]')")
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        skip_or_fail("Debian's chromium is not installed (apt-get install -y chromium)")
    before = set(threading.enumerate())
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
    for thread in set(threading.enumerate()) - before:  # Playwright's own loop thread
        thread.join(10)


def slow(x: int) -> int:
    time.sleep(0.01)  # the workload: a slow stage the queue backs up behind
    return x


def broken() -> int:
    raise ValueError("the sensor at https://admin:s3cret@sensors.example/api answered 500")


def demo_flow(tmp_path: Path, use_threads: bool = True) -> Any:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("numbers", timedelta_seconds=0.05).with_core_logic(
        lambda: iter(range(20))
    ).send("stream", name="numbers")
    builder.add_pipeline("slow").with_stream_connector("numbers", maxsize=16).with_core_logic(
        slow, maxsize=16
    ).with_storage("jsonl", path=str(tmp_path / "slow.jsonl"))
    builder.add_pipeline("broken", timedelta_seconds=0.2, on_failure="continue").with_core_logic(
        broken
    )
    return builder.build()


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_the_status_page_in_chromium(browser: Any, tmp_path: Path, use_threads: bool) -> None:
    flow = demo_flow(tmp_path, use_threads)
    with serving(flow) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        foreign: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: None if r.url.startswith(url) else foreign.append(r.url))
        page.goto(f"{url}/")
        for name in ("numbers", "slow", "broken"):
            page.wait_for_selector(f'[data-pipeline="{name}"]')
            assert (
                page.locator(f'[data-pipeline="{name}"] [data-field="name"]').inner_text() == name
            )
        ok = page.locator('[data-stage="slow.core_logic"] [data-field="ok"]')
        first = int(ok.inner_text().replace(",", ""))
        page.wait_for_function(  # no reload: the page refreshes itself
            """([selector, before]) => {
                const cell = document.querySelector(selector);
                return cell && Number(cell.textContent.replace(/,/g, "")) > before;
            }""",
            arg=['[data-stage="slow.core_logic"] [data-field="ok"]', first],
            timeout=20_000,
        )
        error = page.locator('[data-pipeline="broken"] [data-field="last-error"]')
        error.wait_for()
        text = error.inner_text()
        assert "ValueError in broken.core_logic" in text
        assert "answered 500" in text
        assert "s3cret" not in text
        assert error.get_attribute("data-error-type") == "ValueError"
        page.wait_for_selector('[data-graph-stage="slow.core_logic"]')
        assert page.locator("[data-graph-edge]").count() >= 4
        assert page.locator('[data-stream="numbers"]').count() == 1
        assert page.locator("[data-flow-state]").inner_text() == "running"
        mode = "threads" if use_threads else "processes"
        assert page.locator("[data-mode]").inner_text().startswith(mode)
        fill = page.locator('[data-stage="slow.core_logic"] [data-field="queue"]')
        assert 0.0 <= float(fill.get_attribute("data-queue-fill") or "nan") <= 1.0
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"status-page-{mode}.png"
        page.wait_for_function(
            "() => Number(document.querySelector("
            '\'[data-stage="slow.core_logic"] [data-field="queue"]\')'
            ".getAttribute('data-queue-fill')) > 0",
            timeout=20_000,
        )
        page.screenshot(path=str(shot), full_page=True)
        page.close()
    assert errors == []
    assert foreign == []
    assert shot.stat().st_size > 10_000
