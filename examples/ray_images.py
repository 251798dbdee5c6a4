"""Scenario 6 — the CPU-heavy stage of a service on Ray: "images" blurred by Ray actors.

A pipeline makes small grey-scale "images" (lists of pixel rows), a core-logic stage on Ray
blurs each one (a 3x3 box blur in pure Python: CPU-bound, as image work is) with two actors of
half a CPU each, and the results (size, mean brightness, which actor did it) go to a JSON-lines
storage. Nothing else changes in the service: the other stages are threads, as usual.

Where the actors run: without ``RAY_ADDRESS``, weirflow starts a local Ray on first use (and
shuts it down at exit); with ``RAY_ADDRESS=host:port`` (a cluster started with
``ray start --head --port N``), the same file sends the work there.

    python examples/ray_images.py [images]
    RAY_ADDRESS=127.0.0.1:6380 python examples/ray_images.py 200
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

from weirflow import Flow, FlowBuilder

DATA = Path("data") / "ray_images"
SIDE = 48  # pixels per side


def make_images(count: int) -> Any:
    """The source: ``count`` random images, each a list of rows of 0-255 values."""
    generator = random.Random(7)
    for number in range(count):
        pixels = [[generator.randrange(256) for _ in range(SIDE)] for _ in range(SIDE)]
        yield {"number": number, "pixels": pixels}


def blur(image: dict[str, Any]) -> dict[str, Any]:
    """A 3x3 box blur: the heavy part, run on Ray actors."""
    pixels = image["pixels"]
    size = len(pixels)
    out = [[0] * size for _ in range(size)]
    for y in range(size):
        for x in range(size):
            total = count = 0
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if 0 <= y + dy < size and 0 <= x + dx < size:
                        total += pixels[y + dy][x + dx]
                        count += 1
            out[y][x] = total // count
    mean = sum(map(sum, out)) / (size * size)
    return {"number": image["number"], "side": size, "mean": round(mean, 2), "pid": os.getpid()}


def build_flow(count: int, data: Path = DATA) -> Flow:
    # --8<-- [start:flow]
    builder = FlowBuilder()
    builder.add_pipeline("images").with_core_logic(lambda: make_images(count)).with_core_logic(
        blur, kind="ray", workers=2, maxsize=8, ray_options={"num_cpus": 0.5}
    ).with_storage("jsonl", path=str(data / "blurred.jsonl"))
    # --8<-- [end:flow]
    return builder.build()


def main(count: int = 40) -> list[dict[str, Any]]:
    flow = build_flow(count)
    flow.launch_flow(execution_seconds=300)
    rows: list[dict[str, Any]] = flow.storage("images").load()
    where = os.environ.get("RAY_ADDRESS") or "a local Ray"
    actors = len({row["pid"] for row in rows})
    print(f"blurred {len(rows)} images on {actors} Ray actor(s) of {where}")
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
