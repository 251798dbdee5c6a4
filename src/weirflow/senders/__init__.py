"""Senders: where a pipeline delivers its items (``send(...)`` in a flow).

:func:`create_sender` turns what ``send`` was given into a :class:`~weirflow.Sender`: a kind
name looked up in :data:`SENDERS` (the registry :func:`~weirflow.register_sender` adds to), a
``Sender`` instance, or a plain function called with each item (a
:class:`~weirflow.senders.function.FunctionSender`). The built-in kinds register themselves at
the end of this module, one line each, by the ``"module:name"`` text of their factory (in
:mod:`weirflow.senders._kinds`): a kind costs nothing until a pipeline uses it, and this package
never imports the sender modules that import it (they take :func:`payload` from
:mod:`weirflow.senders._payload`).

Example:
    >>> seen = []
    >>> sender = create_sender(seen.append, pipeline="reports")
    >>> sender.send({"summary": 3})
    >>> seen
    [{'summary': 3}]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from .._errors import InvalidArgumentError
from .._interfaces import Sender
from .._registry import SENDERS, check_options, register_sender
from ._payload import PayloadError, payload, short
from .function import FunctionSender

__all__ = [
    "SENDERS",
    "PayloadError",
    "SenderFactory",
    "create_sender",
    "payload",
    "register_sender",
]

SenderFactory: TypeAlias = Callable[..., Sender]
"""Makes a sender: ``factory(**options)`` (plus ``pipeline=`` when it takes it)."""


def create_sender(
    kind: str | Sender | Callable[[Any], Any],
    *,
    pipeline: str = "?",
    options: Mapping[str, Any] | None = None,
) -> Sender:
    """The sender for ``send(kind, **options)`` in pipeline ``pipeline``.

    Args:
        kind: a registered kind (``"http_post"``, ``"http_put"``, ``"mqtt"``,
            ``"airflow_dag_run"``, ``"prefect_deployment"``, see :data:`SENDERS`), a
            :class:`~weirflow.Sender`, or a function called with each item.
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
        context = f"pipeline {pipeline!r}: send({short(kind)})"
        return SENDERS.recipe(kind, pipeline=pipeline, context=context)(**given)
    if callable(kind):
        context = f"pipeline {pipeline!r}: send({_name(kind)})"
        check_options(given, ("label_to_send",), context, "", style="takes")
        return FunctionSender(kind, pipeline=pipeline, **given)
    raise InvalidArgumentError(
        f"pipeline {pipeline!r}: send() takes a kind ({', '.join(SENDERS)}), a Sender "
        f"or a function, got {type(kind).__name__} {short(kind)}"
    )


def _name(function: Any) -> str:
    return str(getattr(function, "__qualname__", None) or type(function).__name__)


register_sender("http_post", "weirflow.senders._kinds:HTTP_POST")
register_sender("http_put", "weirflow.senders._kinds:HTTP_PUT")
register_sender("mqtt", "weirflow.senders._kinds:MQTT")
register_sender("airflow_dag_run", "weirflow.connectors.airflow:AirflowDagRunSender")
register_sender("prefect_deployment", "weirflow.connectors.prefect:PrefectDeploymentSender")
