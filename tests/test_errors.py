"""The error tree: every exported error is documented, public, under one base, and pickles whole."""

from __future__ import annotations

import pickle
import re
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import weirflow
import weirflow as wf
from weirflow import _errors
from weirflow._errors import stage_of, tag_stage

EXPORTED_ERRORS = sorted(
    (
        value
        for name in weirflow.__all__
        if isinstance(value := getattr(weirflow, name), type) and issubclass(value, BaseException)
    ),
    key=lambda cls: cls.__name__,
)

# one instance of every exported error, built as weirflow builds it
EXAMPLES: dict[type[BaseException], Callable[[], BaseException]] = {
    wf.WeirflowError: lambda: wf.WeirflowError("something failed"),
    wf.ConfigError: lambda: wf.ConfigError("pipeline 'p': unknown option 'tiemout'"),
    wf.InvalidArgumentError: lambda: wf.InvalidArgumentError("workers=-1: must be >= 1"),
    wf.InvalidCallableError: lambda: wf.InvalidCallableError("f=3 is not callable"),
    wf.PipelineFailed: lambda: wf.PipelineFailed("weather", "weather.parse", KeyError("temp")),
    wf.SerializationError: lambda: wf.SerializationError("process.map(f): element did not pickle"),
    wf.RemoteError: lambda: wf.RemoteError("app.Odd", "odd", "Traceback...\napp.Odd: odd\n"),
    wf.WorkerDied: lambda: wf.WorkerDied("process.map(f)", -9),
    wf.LoadError: lambda: wf.LoadError("service.py: no flow"),
    wf.ServiceConfigError: lambda: wf.ServiceConfigError(
        "service.py:3", wf.ConfigError("unknown option")
    ),
    wf.ServiceError: lambda: wf.ServiceError("the server is down", "weather", 3),
    wf.HttpRequestError: lambda: wf.HttpRequestError(
        "GET https://api.example/x: 503", "weather", "GET", "https://api.example/x", 503, 4
    ),
    wf.HttpDecodeError: lambda: wf.HttpDecodeError(
        "not JSON", "weather", "GET", "https://api.example/x", 200, 1
    ),
    wf.HttpBodyTooLargeError: lambda: wf.HttpBodyTooLargeError(
        "body too large", "weather", "GET", "https://api.example/x", 200, 1
    ),
    wf.HttpDeadlineError: lambda: wf.HttpDeadlineError(
        "deadline passed", "weather", "POST", "https://api.example/x", None, 2
    ),
    wf.MqttError: lambda: wf.MqttError(
        "not authorised", "weather", "mqtt://127.0.0.1:1883", "readings", 5
    ),
    wf.DatabaseUnavailableError: lambda: wf.DatabaseUnavailableError(
        "database unreachable", "weather", "readings", "postgresql://app:***@db/prod", 6
    ),
    wf.PayloadError: lambda: wf.PayloadError("pipeline 'weather': no key 'summary'"),
    wf.BrokerError: lambda: wf.BrokerError(
        "Redis broker redis://:***@127.0.0.1:6379/0: wrong password", "work", "redis://:***@h/0"
    ),
}


def _attributes(error: BaseException) -> dict[str, Any]:
    """An error's attributes, exceptions compared by type and message."""
    return {
        key: (type(value), str(value)) if isinstance(value, BaseException) else value
        for key, value in vars(error).items()
    }


def test_the_examples_cover_every_exported_error() -> None:
    assert set(EXAMPLES) == set(EXPORTED_ERRORS)


def test_every_error_in_errors_module_is_exported_and_drawn_in_the_tree() -> None:
    defined = {
        value
        for value in vars(_errors).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    assert defined == set(EXPORTED_ERRORS)
    tree = _errors.__doc__ or ""
    for cls in EXPORTED_ERRORS:
        drawn = re.search(rf"^ *[├└│ ─]*{cls.__name__}( |$)", tree, re.MULTILINE)
        assert drawn, f"{cls.__name__} is missing from the drawn tree"


@pytest.mark.parametrize("cls", EXPORTED_ERRORS, ids=lambda cls: cls.__name__)
def test_every_exported_error_is_public_documented_and_a_weirflow_error(cls: type) -> None:
    assert issubclass(cls, wf.WeirflowError)
    assert cls.__module__ == "weirflow"
    assert getattr(weirflow, cls.__name__) is cls
    doc = cls.__dict__.get("__doc__")  # its own docstring, not one inherited
    assert doc, f"{cls.__name__} has no docstring of its own"
    assert all(doc != base.__doc__ for base in cls.__mro__[1:])
    assert len(doc) >= 200, f"{cls.__name__}'s docstring is too short to say when and what to do"
    assert "You get" in doc, f"{cls.__name__}'s docstring does not say when you get it"


@pytest.mark.parametrize("cls", EXPORTED_ERRORS, ids=lambda cls: cls.__name__)
def test_every_exported_error_survives_pickle_with_its_attributes(cls: type) -> None:
    error = EXAMPLES[cls]()
    tag_stage(error, "weather.parse", worker=2)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert _attributes(copy) == _attributes(error)
    assert stage_of(copy) == "weather.parse"
    assert copy.__notes__ == ["weirflow: raised in worker 2 of stage 'weather.parse'"]


def test_tracebacks_name_the_public_module() -> None:
    line = traceback.format_exception_only(wf.ConfigError("unknown option 'tiemout'"))[-1]
    assert line == "weirflow.ConfigError: unknown option 'tiemout'\n"


def test_service_errors_carry_pipeline_and_attempts() -> None:
    for cls in EXPORTED_ERRORS:
        if issubclass(cls, wf.ServiceError):
            error = EXAMPLES[cls]()
            assert isinstance(error, wf.ServiceError)
            assert hasattr(error, "pipeline")
            assert hasattr(error, "attempts")
    unknown = wf.PayloadError("no key 'summary'")
    assert (unknown.pipeline, unknown.attempts) == (None, None)
    assert wf.HttpRequestError("x", "p", "GET", "http://h/", 503, 4).attempts == 4
    assert isinstance(wf.HttpDecodeError("x", "p", "GET", "http://h/"), ValueError)
    assert isinstance(wf.PayloadError("x"), ValueError)


def test_the_old_import_paths_are_the_same_classes() -> None:
    from weirflow.connectors.http import HttpDecodeError, HttpRequestError
    from weirflow.connectors.mqtt import MqttError
    from weirflow.senders import PayloadError
    from weirflow.storages import DatabaseUnavailableError

    assert HttpRequestError is wf.HttpRequestError
    assert HttpDecodeError is wf.HttpDecodeError
    assert MqttError is wf.MqttError
    assert PayloadError is wf.PayloadError
    assert DatabaseUnavailableError is wf.DatabaseUnavailableError


def test_pipeline_failed_sets_its_own_cause() -> None:
    original = KeyError("temp")
    failure = wf.PipelineFailed("weather", "weather.parse", original)
    assert failure.__cause__ is original
    assert failure.error is original
    assert (failure.pipeline, failure.stage) == ("weather", "weather.parse")
    assert str(failure) == "pipeline 'weather' failed in stage 'weather.parse': KeyError: 'temp'"
    copy = pickle.loads(pickle.dumps(failure))
    assert type(copy.__cause__) is KeyError
    assert copy.__cause__.args == ("temp",)
    assert (copy.pipeline, copy.stage) == ("weather", "weather.parse")


def test_tag_stage_keeps_the_first_stage_and_adds_each_note_once() -> None:
    error = ValueError("bad reading")
    tag_stage(error, "weather.parse")
    tag_stage(error, "weather.store", worker=0)
    tag_stage(error, "weather.store", worker=0)
    assert stage_of(error) == "weather.parse"
    assert error.__notes__ == ["weirflow: raised in worker 0 of stage 'weather.store'"]
    assert stage_of(ValueError("untagged")) is None


def test_a_worker_s_note_leaves_the_stage_to_the_flow() -> None:
    error = ValueError("bad reading")
    tag_stage(error, "thread.map(parse)", 1, note_only=True)  # the engine's worker
    assert stage_of(error) is None
    tag_stage(error, "weather.parse")  # the flow's stage name is the one kept
    assert stage_of(error) == "weather.parse"
    assert error.__notes__ == ["weirflow: raised in worker 1 of stage 'thread.map(parse)'"]


def test_tag_stage_tolerates_an_exception_without_a_dict() -> None:
    class NoDict(BaseException):
        __slots__ = ()

        def __setattr__(self, name: str, value: Any) -> None:
            raise AttributeError(name)

    error = NoDict()
    tag_stage(error, "weather.parse")
    assert stage_of(error) is None


def _raise_mqtt_error(item: int) -> int:
    raise wf.MqttError(f"publish {item} failed", "weather", "mqtt://127.0.0.1:1883", "t", 3)


def test_a_service_error_crosses_from_a_worker_process_whole() -> None:
    with pytest.raises(wf.MqttError) as info:
        list(wf.process.map(_raise_mqtt_error, [7], workers=1))
    error = info.value
    assert (error.pipeline, error.broker, error.topic, error.attempts) == (
        "weather",
        "mqtt://127.0.0.1:1883",
        "t",
        3,
    )
    assert str(error) == "publish 7 failed"
    assert any("process.map(_raise_mqtt_error)" in note for note in error.__notes__)


def test_a_payload_error_names_the_senders_pipeline() -> None:
    from weirflow.connectors.http import HttpSender
    from weirflow.senders.function import FunctionSender

    function_sender = FunctionSender(print, label_to_send="total", pipeline="reports")
    with pytest.raises(wf.PayloadError, match="no key 'total'") as info:
        function_sender.send({"count": 3})
    assert (info.value.pipeline, info.value.attempts) == ("reports", None)
    http_sender = HttpSender("http://127.0.0.1:9/in", pipeline="reports")
    with http_sender, pytest.raises(wf.PayloadError, match="as JSON") as info:
        http_sender.send({"when": object()})  # nothing is sent: JSON fails first
    assert info.value.pipeline == "reports"
