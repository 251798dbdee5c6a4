"""The one retry loop, Retry.run: attempts, which errors are retried, waits and their end."""

from __future__ import annotations

import threading

import pytest

from weirflow import ConfigError, InvalidArgumentError, Retry
from weirflow._checks import Where
from weirflow._retry import retry_policy


class Flaky:
    """Fails ``failures`` times with ``error``, then answers ``"ok"``; records the attempts."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.attempts: list[int] = []

    def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if len(self.attempts) <= self.failures:
            raise self.error
        return "ok"


def no_wait(seconds: float) -> bool:
    return False


def test_attempts_until_one_succeeds_with_the_policy_s_waits() -> None:
    waits: list[tuple[int, float]] = []
    flaky = Flaky(3, ConnectionError("refused"))
    policy = Retry(attempts=5, backoff=0.5, cap=1.5)
    result = policy.run(
        flaky,
        before_wait=lambda error, attempt, delay: waits.append((attempt, delay)),
        wait=no_wait,
    )
    assert result == "ok"
    assert flaky.attempts == [1, 2, 3, 4]
    assert waits == [(1, 0.5), (2, 1.0), (3, 1.5)]


def test_the_last_error_is_raised_as_it_is_once_the_attempts_are_spent() -> None:
    error = ConnectionError("refused")
    flaky = Flaky(10, error)
    with pytest.raises(ConnectionError) as caught:
        Retry(attempts=3, backoff=0).run(flaky, wait=no_wait)
    assert caught.value is error
    assert flaky.attempts == [1, 2, 3]


def test_an_error_that_is_not_retryable_is_raised_at_once() -> None:
    flaky = Flaky(10, ValueError("bad item"))
    with pytest.raises(ValueError, match="bad item"):
        Retry(attempts=5, backoff=0).run(
            flaky, retryable=lambda error: isinstance(error, ConnectionError), wait=no_wait
        )
    assert flaky.attempts == [1]


def test_before_wait_may_end_the_loop_with_its_own_error() -> None:
    def give_up(error: Exception, attempt: int, delay: float) -> None:
        raise TimeoutError(f"no time left after attempt {attempt}")

    flaky = Flaky(10, ConnectionError("refused"))
    with pytest.raises(TimeoutError, match="after attempt 1") as caught:
        Retry(attempts=5, backoff=0).run(flaky, before_wait=give_up, wait=no_wait)
    assert isinstance(caught.value.__context__, ConnectionError)
    assert flaky.attempts == [1]


def test_a_wait_cut_short_raises_the_last_error() -> None:
    closed = threading.Event()
    closed.set()  # as if close() had been called: every wait ends at once
    flaky = Flaky(10, ConnectionError("refused"))
    with pytest.raises(ConnectionError):
        Retry(attempts=5, backoff=30).run(flaky, wait=closed.wait)
    assert flaky.attempts == [1]


def test_a_single_attempt_never_waits() -> None:
    def must_not_wait(seconds: float) -> bool:
        raise AssertionError("waited")

    with pytest.raises(ConnectionError):
        Retry().run(Flaky(1, ConnectionError("x")), wait=must_not_wait)


def test_the_default_wait_sleeps_and_is_not_cut_short() -> None:
    assert Retry(attempts=2, backoff=0).run(Flaky(1, ConnectionError("x"))) == "ok"


def test_retry_policy_from_connector_options() -> None:
    where = Where("p", "send('mqtt', {name}=...)")
    policy = retry_policy(2, 0.25, where)
    assert (policy.attempts, policy.backoff, policy.cap) == (3, 0.25, 30.0)
    given = Retry(attempts=2, backoff=1, cap=1)
    assert retry_policy(given, 0.5, where) is given
    with pytest.raises(InvalidArgumentError, match=r"send\('mqtt', backoff=...\): the Retry"):
        retry_policy(given, 2.0, where)
    with pytest.raises(InvalidArgumentError, match=r"retries=...\): give a whole number >= 0"):
        retry_policy(-1, 0.5, where)
    with pytest.raises(ConfigError, match=r"backoff=...\): give a number of seconds >= 0"):
        retry_policy(1, float("inf"), where)
