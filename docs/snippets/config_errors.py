"""Configuration errors: each mistake is found by ``build()`` (or the call that made it).

Each line below makes one mistake; the comment after it is what the ``ConfigError`` says.

    python config_errors.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from weirflow import ConfigError, FlowBuilder


def mistake(make: Callable[[FlowBuilder], Any], *expected: str) -> None:
    """``make`` must raise a ConfigError whose message contains every ``expected`` text."""
    try:
        make(FlowBuilder())
    except ConfigError as error:
        message = str(error)
    else:
        raise AssertionError(f"no ConfigError for {expected}")
    print(f"{message}\n")
    for text in expected:
        assert text in message, (text, message)


def average(db_connector: Any) -> None:  # one letter away from db_connectors
    return None


# --8<-- [start:mistakes]
mistake(
    lambda b: b.add_pipeline("p", timedelta_seconds=5).with_storage("jsn"),
    "pipeline 'p', stage 'p.storage'", "unknown storage kind 'jsn'", "did you mean 'json'",
)  # fmt: skip
mistake(
    lambda b: b.add_pipeline("p").with_http_connector("http://localhost:8025/x", header={}),
    "pipeline 'p', stage 'p.http_connector'", "did you mean 'headers'",
)  # fmt: skip
mistake(
    lambda b: b.add_pipeline("p").with_core_logic(print, worker=4),
    "did you mean 'workers'",
)  # fmt: skip
mistake(
    lambda b: b.add_pipeline("p").with_core_logic(print, kind="threads"),
    "kind must be one of", "did you mean 'thread'",
)  # fmt: skip
mistake(
    lambda b: b.add_pipeline("p", on_failure="retry"),
    "add_pipeline(on_failure=...) must be one of",
)  # fmt: skip
mistake(lambda b: b.add_pipeline("p", cron="61 * * * *"), "pipeline 'p'", "minute")
mistake(
    lambda b: b.add_pipeline("p").with_core_logic(average).build(),
    "db_connector",
)  # fmt: skip
mistake(
    lambda b: b.add_pipeline("p").with_storage("json").build(),
    "nothing to store", "put a connector or core logic before it",
)  # fmt: skip
mistake(
    lambda b: b.add_pipeline("p").with_core_logic(print).send("stream", name="jobs").build(),
    "sends to stream 'jobs', but no pipeline reads it",
)  # fmt: skip
mistake(lambda b: b.build(), "the flow has no pipelines")
# --8<-- [end:mistakes]
print("every mistake was caught at build time")
