"""Loading a service file for the command line: the file runs, its flow is found.

A service file runs as a script would, except that its ``if __name__ == "__main__":`` block
does not, and a ``launch_flow(...)`` call at its top level is recorded, not run (the command
line runs the flow, or only checks it). The file's flow is, in this order: the one named by
``path.py:name``; the one it launched; the one :class:`~weirflow.Flow` or
:class:`~weirflow.FlowBuilder` it exposes (a builder and the flow built from it are one flow);
the result of a factory function (``build_flow``, ``make_flow``, ``create_flow``, ``flow``).
An error while loading names the file and the line.
"""

from __future__ import annotations

import inspect
import runpy
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ConfigError, LoadError, ServiceConfigError

FACTORY_NAMES = ("build_flow", "make_flow", "create_flow", "flow")


@dataclass(frozen=True)
class Service:
    """The flow a service file exposes and the time limit its ``launch_flow`` call gave."""

    flow: Any
    execution_seconds: float | None = None
    http: str | None = None


def load_service(target: str) -> Service:
    """Load ``path.py`` or ``path.py:name``.

    Raises:
        LoadError: no such file, an exception while running it, no flow or several.
        ServiceConfigError: the file (or building its flow) raised a ``ConfigError``.
    """
    from .flows import Flow, FlowBuilder
    from .flows._flow import deferring_launches

    path_text, _, name = target.rpartition(":") if not Path(target).exists() else (target, "", "")
    if not path_text:
        path_text, name = target, ""
    path = Path(path_text)
    if not path.is_file():
        raise LoadError(f"no such service file: {path}")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    with deferring_launches() as launched:
        try:
            namespace = runpy.run_path(str(path), run_name="__weirflow_service__")
        except ConfigError as error:
            raise ServiceConfigError(_where(path, error), error) from error
        except SyntaxError as error:
            raise LoadError(f"{path}:{error.lineno}: SyntaxError: {error.msg}") from error
        except Exception as error:
            raise LoadError(f"{_where(path, error)}: {type(error).__name__}: {error}") from error
    limits = {id(flow): seconds for flow, seconds, _ in launched}
    served = {id(flow): http for flow, _, http in launched}
    if name:
        if name not in namespace:
            raise LoadError(f"{path} has no {name!r}")
        candidate = namespace[name]
    else:
        candidate = _the_flow(path, target, namespace, [flow for flow, *_ in launched])
    try:
        if callable(candidate) and not isinstance(candidate, (Flow, FlowBuilder)):
            _check_no_arguments_needed(path, candidate)
            candidate = candidate()
        if isinstance(candidate, FlowBuilder):
            built = [flow for flow, *_ in launched if flow.flow_id == candidate.flow_id]
            candidate = built[0] if built else candidate.build()
    except ConfigError as error:
        raise ServiceConfigError(_where(path, error), error) from error
    except LoadError:
        raise
    except Exception as error:
        raise LoadError(f"{_where(path, error)}: {type(error).__name__}: {error}") from error
    if not isinstance(candidate, Flow):
        raise LoadError(f"{target} is a {type(candidate).__name__}, not a Flow or FlowBuilder")
    return Service(candidate, limits.get(id(candidate)), served.get(id(candidate)))


def _the_flow(path: Path, target: str, namespace: dict[str, Any], launched: list[Any]) -> Any:
    from .flows import Flow, FlowBuilder

    if len({id(flow) for flow in launched}) == 1:
        return launched[0]
    flows: dict[str, Any] = {}  # one name per flow; a builder and its flows are one
    for key, value in namespace.items():
        if key.startswith("_") or not isinstance(value, (Flow, FlowBuilder)):
            continue
        if all(_identity(value) != _identity(other) for other in flows.values()):
            flows[key] = value
        elif isinstance(value, Flow):  # prefer the built flow to its builder
            for other_key, other in list(flows.items()):
                if _identity(other) == _identity(value) and isinstance(other, FlowBuilder):
                    del flows[other_key]
                    flows[key] = value
    if len(flows) > 1:
        raise LoadError(f"{path} has several flows ({', '.join(flows)}); pick one: {target}:NAME")
    if flows:
        return next(iter(flows.values()))
    factories = [key for key in FACTORY_NAMES if callable(namespace.get(key))]
    if not factories:
        raise LoadError(
            f"{path} exposes no Flow, FlowBuilder or factory function ({', '.join(FACTORY_NAMES)})"
        )
    return namespace[factories[0]]


def _check_no_arguments_needed(path: Path, factory: Any) -> None:
    """The command line calls a factory without arguments: one that needs some is an error.

    >>> def build_flow(base_url, seconds=5): ...
    >>> _check_no_arguments_needed(Path("service.py"), build_flow)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    weirflow.LoadError: service.py: build_flow(base_url, seconds=...) needs base_url; ...
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: let the call tell
        return
    required = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.default is parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    if required:
        name = getattr(factory, "__name__", repr(factory))
        raise LoadError(
            f"{path}: {name}{_shown(signature)} needs {', '.join(required)}; the command line "
            "calls it without arguments: give them defaults, or expose a Flow or FlowBuilder "
            f"(a file that builds its flow in its __main__ block runs as: python {path})"
        )


def _shown(signature: inspect.Signature) -> str:
    """The parameters, defaults elided: ``(base_url, data=...)``."""
    shown = [
        name if parameter.default is parameter.empty else f"{name}=..."
        for name, parameter in signature.parameters.items()
    ]
    return f"({', '.join(shown)})"


def _identity(value: Any) -> str:
    return str(value.flow_id)


def _where(path: Path, error: BaseException) -> str:
    """``path:line`` of the deepest frame of ``error``'s traceback in the service file."""
    resolved = path.resolve()
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve() == resolved:
            line = frame.lineno
    return f"{path}:{line}" if line is not None else str(path)
