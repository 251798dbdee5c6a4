"""Log records made in worker processes reach the parent's handlers, at the parent's levels."""

from __future__ import annotations

import logging
import time

import pytest

import weirflow


def _log_each(x: int) -> int:
    logging.getLogger("user.work").info("working on %d", x)
    logging.getLogger("user.work").debug("details of %d", x)
    return x


def _slow(x: int) -> int:
    if x == 1:
        time.sleep(0.5)  # the work the timeout cuts short, not synchronisation
    return x


def test_a_worker_processs_records_reach_the_parents_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        assert sorted(weirflow.process.map(_log_each, range(4), workers=2)) == [0, 1, 2, 3]
    seen = [r for r in caplog.records if r.name == "user.work"]
    assert sorted(r.getMessage() for r in seen) == [f"working on {x}" for x in range(4)]
    assert all(r.levelno == logging.INFO for r in seen)  # DEBUG is below the parent's level
    assert {r.process for r in seen} != {__import__("os").getpid()}  # made in the workers


def test_the_parents_level_silences_worker_records(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        list(weirflow.process.map(_log_each, range(2)))
    assert not [r for r in caplog.records if r.name == "user.work"]


def test_a_timeout_warning_in_a_worker_process_reaches_the_parent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="weirflow"):
        assert list(weirflow.process.map(_slow, [0, 1, 2], timeout=0.05)) == [0, 2]
    assert any(
        r.name == "weirflow"
        and r.levelno == logging.WARNING
        and "process.map(_slow)" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
