"""Senders: where a pipeline delivers its items (``send(...)`` in a flow).

:func:`create_sender` turns what ``send`` was given into a :class:`~weirflow._interfaces.Sender`:
a kind name looked up in :data:`SENDERS` (``"http_post"``, ``"http_put"``), a ``Sender``
instance, or a plain function called with each item. :data:`SENDERS` is the extension point:
a kind maps to a factory ``factory(kind, pipeline, options) -> Sender``, and the module that
implements a kind registers it with :func:`register_sender`; a factory imports its module
when first called, so a kind costs nothing until a pipeline uses it.

Example:
    >>> seen = []
    >>> sender = create_sender(seen.append, pipeline="reports")
    >>> sender.send({"summary": 3})
    >>> seen
    [{'summary': 3}]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from .._errors import ConfigError, InvalidArgumentError, WeirflowError
from .._hints import did_you_mean
from .._interfaces import Sender

__all__ = [
    "SENDERS",
    "PayloadError",
    "SenderFactory",
    "create_sender",
    "payload",
    "register_sender",
]

SenderFactory: TypeAlias = Callable[[str, str, dict[str, Any]], Sender]
"""Makes a sender: ``factory(kind, pipeline, options)``; raises ConfigError on bad options."""


class PayloadError(WeirflowError, ValueError):
    """An item cannot become what a sender sends: no such label, or not JSON-serialisable."""


def payload(item: Any, label_to_send: str | None, where: str) -> Any:
    """What to send for ``item``: ``item[label_to_send]``, or the whole item without a label.

    ``where`` names the pipeline and the sender in the error raised for an item that is not
    a dict or lacks the label.

    Example:
        >>> payload({"summary": 7, "raw": [1, 2]}, "summary", "pipeline 'p'")
        7
    """
    if label_to_send is None:
        return item
    if not isinstance(item, Mapping):
        raise PayloadError(
            f"{where}: label_to_send={label_to_send!r} needs items that are dicts, "
            f"got {type(item).__name__}: {_short(item)}"
        )
    if label_to_send not in item:
        keys = ", ".join(repr(key) for key in list(item)[:10]) or "no keys"
        raise PayloadError(
            f"{where}: the item has no key {label_to_send!r} (label_to_send); it has {keys}"
        )
    return item[label_to_send]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _name(function: Any) -> str:
    return str(getattr(function, "__qualname__", None) or type(function).__name__)


def _http_factory(method: str) -> SenderFactory:
    def make(kind: str, pipeline: str, options: dict[str, Any]) -> Sender:
        from ..connectors.http import HttpSender

        _check_options(repr(kind), pipeline, options, HttpSender.OPTIONS)
        if options.get("destination") is None:
            raise InvalidArgumentError(
                f"pipeline {pipeline!r}: send({kind!r}) needs the URL to send to; add "
                "destination='http://host:port/path'"
            )
        return HttpSender(method=method, pipeline=pipeline, **options)

    return make


def _mqtt_factory(kind: str, pipeline: str, options: dict[str, Any]) -> Sender:
    try:
        from .mqtt import MqttSender  # paho-mqtt is imported only when a pipeline publishes
    except ImportError as error:
        if "weirflow[mqtt]" not in str(error):
            raise
        raise ConfigError(f"pipeline {pipeline!r}: send({kind!r}): {error}") from None

    _check_options(repr(kind), pipeline, options, MqttSender.OPTIONS)
    return MqttSender(pipeline=pipeline, **options)


def _check_options(
    shown: str, pipeline: str, options: Mapping[str, Any], valid: Iterable[str]
) -> None:
    valid = sorted(set(valid))
    for name in options:
        if name not in valid:
            raise InvalidArgumentError(
                f"pipeline {pipeline!r}: send({shown}) got unknown option {_short(name)}"
                f"{did_you_mean(name, valid)}; it takes {', '.join(valid)}"
            )


SENDERS: dict[str, SenderFactory] = {
    "http_post": _http_factory("POST"),
    "http_put": _http_factory("PUT"),
    "mqtt": _mqtt_factory,
}
"""Kind name → factory (``"mqtt"``: :class:`weirflow.senders.mqtt.MqttSender`). Add a kind with
:func:`register_sender`."""


def register_sender(kind: str, factory: SenderFactory, *, replace: bool = False) -> None:
    """Make ``send(kind, ...)`` use ``factory(kind, pipeline, options)``.

    Raises:
        ValueError: ``kind`` is registered already and ``replace`` is False.

    Example:
        >>> from weirflow.senders.function import FunctionSender
        >>> register_sender(
        ...     "print", lambda kind, pipeline, options: FunctionSender(print, pipeline=pipeline)
        ... )
        >>> create_sender("print", pipeline="demo").send("hello")
        hello
        >>> del SENDERS["print"]
    """
    if kind in SENDERS and not replace:
        raise ValueError(f"a sender kind {kind!r} is registered already; pass replace=True")
    SENDERS[kind] = factory


def create_sender(
    kind: str | Sender | Callable[[Any], Any],
    *,
    pipeline: str = "?",
    options: Mapping[str, Any] | None = None,
) -> Sender:
    """The sender for ``send(kind, **options)`` in pipeline ``pipeline``.

    Args:
        kind: a registered kind (``"http_post"``, ``"http_put"``, see :data:`SENDERS`), a
            :class:`~weirflow._interfaces.Sender`, or a function called with each item.
        pipeline: the pipeline's name, shown in errors and log lines.
        options: the kind's options, e.g. ``destination`` and ``label_to_send``; a function
            takes only ``label_to_send``, a Sender instance none.

    Raises:
        ConfigError: an unknown kind, a missing or unknown option, a bad value.

    Example:
        >>> sender = create_sender(
        ...     "http_post", pipeline="reports", options={"destination": "http://localhost:8026/r"}
        ... )
        >>> sender.destination
        'http://localhost:8026/r'
        >>> sender.close()
    """
    given = dict(options or {})
    if isinstance(kind, Sender):
        if given:
            raise InvalidArgumentError(
                f"pipeline {pipeline!r}: send({type(kind).__name__}(...)) takes no options "
                f"(got {', '.join(sorted(given))}); configure the Sender object instead"
            )
        return kind
    if isinstance(kind, str):
        factory = SENDERS.get(kind)
        if factory is None:
            raise InvalidArgumentError(
                f"pipeline {pipeline!r}: send({_short(kind)}): unknown sender kind"
                f"{did_you_mean(kind, SENDERS)}; valid kinds: "
                f"{', '.join(repr(name) for name in sorted(SENDERS))}, a Sender or a function"
            )
        sender = factory(kind, pipeline, given)
        if not isinstance(sender, Sender):
            raise ConfigError(
                f"pipeline {pipeline!r}: the factory of sender kind {kind!r} returned "
                f"{type(sender).__name__}, not a Sender"
            )
        return sender
    if callable(kind):
        from .function import FunctionSender

        _check_options(_name(kind), pipeline, given, ("label_to_send",))
        return FunctionSender(kind, pipeline=pipeline, **given)
    raise InvalidArgumentError(
        f"pipeline {pipeline!r}: send() takes a kind ({', '.join(sorted(SENDERS))}), a Sender "
        f"or a function, got {type(kind).__name__} {_short(kind)}"
    )
