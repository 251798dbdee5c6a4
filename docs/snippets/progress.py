"""Progress lines: a stage iterated through ``weirflow.progress`` shows a line per stage.

Run it in a terminal to see the lines; with stderr on a pipe or in a file nothing is drawn and
``wf.progress(records)`` is just the stage.

    python progress.py
"""

from __future__ import annotations

from typing import Any

import weirflow as wf


def fetch(url: str) -> str:
    return f"<p>{url.rsplit('/', 1)[1]}</p>"  # stands for a request


def parse(page: str) -> dict[str, Any]:
    return {"number": int(page.removeprefix("<p>").removesuffix("</p>"))}


def main() -> None:
    urls = [f"https://example.org/pages/{number}" for number in range(2000)]
    saved: list[dict[str, Any]] = []

    pages = wf.thread.map(fetch, urls, workers=8, maxsize=32)
    records = wf.process.map(parse, pages, workers=4, maxsize=16)

    for record in wf.progress(records):  # also: list(wf.progress(records)),
        saved.append(record)  # async for record in wf.progress(records)

    print(f"saved {len(saved)} records")
    assert sorted(record["number"] for record in saved) == list(range(2000))


if __name__ == "__main__":  # the worker processes import this file: run only here
    main()
