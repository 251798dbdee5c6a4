"""A pipeline of stages with a CPU-heavy one on Ray actors (docs/guides/ray.md).

Threads fetch (here: make) the images, two Ray actors make thumbnails, and the results come
back in order. Without ``RAY_ADDRESS`` a local Ray starts on first use and stops at exit.
"""

import weirflow as wf


def download(url):  # I/O: threads
    number = int(url.rsplit("/", 1)[1])
    return {"url": url, "pixels": [(number * 7 + i) % 256 for i in range(4096)]}


def thumbnail(image):  # CPU-heavy: on Ray
    pixels = image["pixels"]
    small = [sum(pixels[i : i + 64]) // 64 for i in range(0, len(pixels), 64)]
    return {"url": image["url"], "thumbnail": small}


# --8<-- [start:stages]
if __name__ == "__main__":
    urls = [f"https://images.example/{n}" for n in range(20)]
    stage = wf.thread.map(download, urls, workers=4, maxsize=8)
    stage = wf.ray.map(thumbnail, stage, workers=2, maxsize=8, num_cpus=0.5)
    results = list(wf.thread.ordered(stage))
    # --8<-- [end:stages]
    assert [result["url"] for result in results] == urls
    assert all(len(result["thumbnail"]) == 64 for result in results)
    print(f"{len(results)} thumbnails, in order")
