"""The shared argument checks: what they accept, what they refuse and how they say it."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest

from weirflow import ConfigError, InvalidArgumentError
from weirflow._checks import (
    Where,
    check_flag,
    check_name,
    check_positive_number,
    check_seconds,
    check_whole,
    check_whole_number,
    configuring,
    place,
)


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1.0), (0.25, 0.25), (Fraction(1, 2), 0.5), (10, 10.0)]
)
def test_positive_numbers_are_returned_as_floats(value: Any, expected: float) -> None:
    assert check_positive_number(value, "timeout", maximum=10) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1, 0, 11, True, "1", None, [1]])
def test_bad_positive_numbers_are_refused_with_the_field_and_the_value(value: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_positive_number(value, "backoff", where="pipeline 'p'", maximum=10)
    message = str(info.value)
    assert message.startswith("pipeline 'p': backoff must be a finite number > 0 and at most 10")
    assert message.endswith(f"got {value!r}")


def test_zero_and_none_when_allowed() -> None:
    assert check_positive_number(0, "timeout", allow_zero=True) == 0.0
    assert check_positive_number(None, "timeout", allow_none=True) is None
    with pytest.raises(InvalidArgumentError, match=r"\(0 = none, or None\)"):
        check_positive_number(-1, "timeout", allow_zero=True, allow_none=True, meaning="0 = none")


def test_the_error_class_is_the_callers_choice() -> None:
    class BuilderError(ConfigError):
        pass

    with pytest.raises(BuilderError, match="every"):
        check_positive_number(math.nan, "every", error=BuilderError)
    with pytest.raises(BuilderError, match="workers"):
        check_whole_number(0, "workers", minimum=1, error=BuilderError)


@pytest.mark.parametrize("value", [1.0, 1.5, True, "3", None, math.nan, -1, 2**70])
def test_bad_whole_numbers_are_refused(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"workers must be a whole number from 0 to 100"):
        check_whole_number(value, "workers", maximum=100)


def test_whole_numbers_in_range_pass() -> None:
    assert check_whole_number(0, "maxsize", meaning="0 = unbounded") == 0
    assert check_whole_number(100, "maxsize", maximum=100) == 100
    assert check_whole_number(None, "maxsize", allow_none=True) is None


def test_a_where_names_the_pipeline_the_stage_and_the_field() -> None:
    where = Where("plant", "send('mqtt', {name}=...)", stage="plant.sender")
    assert str(where) == "pipeline 'plant', stage 'plant.sender'"
    assert where.field("qos") == "pipeline 'plant', stage 'plant.sender': send('mqtt', qos=...)"


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, True, "1", 10 * 366 * 24 * 3600 + 1])
def test_seconds_are_finite_and_at_most_ten_years_in_both_styles(value: Any) -> None:
    with pytest.raises(ConfigError) as placed:
        check_seconds(value, "pipeline 'p'", "timeout")
    assert str(placed.value).startswith("pipeline 'p': timeout must be a number of seconds >= 0")
    assert type(placed.value) is ConfigError
    with pytest.raises(InvalidArgumentError) as given:
        check_seconds(value, Where("p", "MqttSource({name}=...)"), "timeout", positive=True)
    assert str(given.value).startswith(
        "pipeline 'p': MqttSource(timeout=...): give a number of seconds > 0 and at most"
    )
    assert isinstance(given.value, ValueError)


def test_whole_numbers_flags_and_names() -> None:
    assert check_whole(3, "p", "workers", minimum=1, maximum=5) == 3
    with pytest.raises(ConfigError, match="p: workers must be a whole number from 1 to 5, got 9"):
        check_whole(9, "p", "workers", minimum=1, maximum=5)
    with pytest.raises(InvalidArgumentError, match=r"keepalive=...\): give a whole number >= 1"):
        check_whole(0, Where("p", "MqttSource({name}=...)"), "keepalive", minimum=1)
    assert check_flag(False, "p", "create") is False
    with pytest.raises(ConfigError, match="p: create must be True or False, got str 'no'"):
        check_flag("no", "p", "create")
    with pytest.raises(InvalidArgumentError, match=r"retain=...\): give True or False, got 'no'"):
        check_flag("no", Where("p", "send('mqtt', {name}=...)"), "retain")
    with pytest.raises(ConfigError, match="p: table must be a non-empty str, got str ' '"):
        check_name(" ", "p", "table")


def test_the_place_of_options_comes_from_the_configuring_context() -> None:
    assert place("SqlStorage") == "SqlStorage"
    with configuring("pipeline 'p': with_storage('sql')"):
        assert place("SqlStorage") == "pipeline 'p': with_storage('sql')"
    assert place("SqlStorage") == "SqlStorage"
