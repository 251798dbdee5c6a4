"""The checks ``FlowBuilder`` runs on what it is given, before anything is made.

Each check takes the value, ``where`` (``pipeline 'p', stage 'p.core_logic'``) and the field's
name, and returns the value or raises :class:`~weirflow.ConfigError` saying what to give
instead, with a short repr of the value (:func:`~weirflow._hints.shown`: a huge string never
floods a message):

- numbers: :func:`check_seconds` (finite, within :data:`MAX_SECONDS`), :func:`check_whole`
  (an ``int``, never a ``bool`` or a float, within bounds such as :data:`MAX_WORKERS`),
  :func:`check_flag` (``True`` or ``False`` only: ``"false"`` is not false), all from
  :mod:`weirflow._checks`, the one module of argument checks, re-exported here;
- the options a connector, storage or sender gets: :func:`check_option_values` (no NaN or
  infinity anywhere, seconds and retries within bounds), :func:`check_keywords` (a misspelt
  name gets a "did you mean");
- builder calls: :func:`keywords_checked` turns Python's ``TypeError`` for a wrong keyword or
  too many arguments into a ``ConfigError`` naming the pipeline, the stage and the fix;
- user functions: :func:`check_injected_names` (a parameter one typo away from an injected
  name);
- connectors, storages and senders: :func:`make_once` makes one at build time, so its own
  checks run, and re-raises their errors naming the stage and the builder method.

**Injected names.** A stage function gets the previous stage's output as its first parameter
and ``db_connectors`` and ``pipeline_name`` by name. A parameter without a default whose name
is one typo away from an injected name (one letter inserted, deleted, changed or two swapped, or
only case and underscores differ: ``db_connector``, ``pipline_name``, ``pipelineName``) is taken
for a misspelling and refused, even as the first parameter, where it would silently receive the
previous item (``None`` in a pipeline's first stage). Name the item's parameter anything else
(``item``, ``row``). With a default, the same parameter is allowed (it keeps its default), and a
WARNING says so.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar, cast

from .._checks import MAX_SECONDS as MAX_SECONDS
from .._checks import check_flag as check_flag
from .._checks import check_minutes as check_minutes
from .._checks import check_seconds as check_seconds
from .._checks import check_whole as check_whole
from .._checks import is_finite, is_number
from .._errors import ConfigError
from .._hints import did_you_mean, one_typo_away, shorten_quotes, shown
from ._lazy import Lazy
from ._stages import INJECTED

logger = logging.getLogger("weirflow.flows")

MAX_WORKERS = 1024
"""The most workers one stage may have."""
MAX_RETRIES = 10_000
"""The most retries an option such as ``retries=`` may ask for."""

MAX_NAME = 100
"""The longest pipeline name."""

_SECONDS_OPTION = re.compile(r"(timeout|backoff|delay|seconds|interval)$")
_RETRIES_OPTION = re.compile(r"(retries|attempts)$")
_F = TypeVar("_F", bound=Callable[..., Any])


def check_pipeline_name(name: Any) -> str:
    """A pipeline's name: a non-empty ``str`` of at most :data:`MAX_NAME` characters without
    control characters (it names files, tables, log lines and errors)."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"add_pipeline: name must be a non-empty string, got {shown(name)}; e.g. "
            "add_pipeline('readings')"
        )
    if len(name) > MAX_NAME or not name.isprintable():
        raise ConfigError(
            f"add_pipeline: name {shown(name)} must be at most {MAX_NAME} printable characters "
            "(it names files, tables, log lines and errors); e.g. add_pipeline('readings')"
        )
    return name


def check_stream_name(name: Any, where: str, field: str) -> str:
    """A stream's name: the same rules as a pipeline's name."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"{where}: {field} must be a non-empty string, got {shown(name)}; e.g. name='readings'"
        )
    if len(name) > MAX_NAME or not name.isprintable():
        raise ConfigError(
            f"{where}: {field}: {shown(name)} must be at most {MAX_NAME} printable characters"
        )
    return name


def check_option_values(options: Mapping[str, Any], where: str, call: str) -> None:
    """No NaN or infinity in ``options``; seconds and retries within bounds.

    ``options`` are what a connector, storage or sender gets; an option whose name ends in
    ``timeout``, ``backoff``, ``delay``, ``seconds`` or ``interval`` is a number of seconds (at
    most :data:`MAX_SECONDS`), one ending in ``retries`` or ``attempts`` a count (at most
    :data:`MAX_RETRIES`). Types and other bounds are the object's own checks.
    """
    for name, value in options.items():
        if not is_number(value):
            continue
        field = f"{call}({name}=...)"
        if not is_finite(value):
            raise ConfigError(f"{where}: {field} must be a finite number, got {shown(value)}")
        if _SECONDS_OPTION.search(name) and abs(value) > MAX_SECONDS:
            raise ConfigError(
                f"{where}: {field} is {shown(value)} seconds; give at most {MAX_SECONDS} "
                "(ten years)"
            )
        if _RETRIES_OPTION.search(name) and abs(value) > MAX_RETRIES:
            raise ConfigError(
                f"{where}: {field} is {shown(value)}; give at most {MAX_RETRIES} retries"
            )


def check_keywords(
    given: Iterable[str],
    accepted: Collection[str],
    where: str,
    call: str,
    *,
    set_by_weirflow: Collection[str] = (),
) -> None:
    """Every name in ``given`` is ``accepted``; otherwise a "did you mean" and the list."""
    for name in given:
        if name in set_by_weirflow:
            raise ConfigError(
                f"{where}: {call} sets {name} itself (it is the pipeline's name); remove {name}=..."
            )
        if name not in accepted:
            raise ConfigError(
                f"{where}: {call} has no option {shown(name)}{did_you_mean(name, accepted)}; "
                f"it takes {', '.join(accepted)}"
            )


def keywords_checked(stage: str | None = None) -> Callable[[_F], _F]:
    """Decorate a builder method: wrong arguments become a :class:`ConfigError`.

    The object's ``_call_where(stage, args, kwargs)`` says where the call is (``pipeline 'p',
    stage 'p.storage'``); ``stage`` is the label base of the stage the method adds.
    """

    def decorate(method: _F) -> _F:
        signature = inspect.signature(method)
        call = f"{'FlowBuilder' if method.__name__ == '__init__' else method.__name__}()"

        @functools.wraps(method)
        def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                signature.bind(self, *args, **kwargs)
            except TypeError:
                where = self._call_where(stage, args, kwargs)
                problem = _binding_problem(signature, args, kwargs)
                raise ConfigError(f"{where + ': ' if where else ''}{call} {problem}") from None
            return method(self, *args, **kwargs)

        return cast(_F, checked)

    return decorate


def check_injected_names(function: Callable[..., Any], where: str) -> None:
    """Refuse a parameter one typo away from an injected name (see the module's docstring)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for parameter in parameters:
        if parameter.kind not in named or parameter.name in INJECTED:
            continue
        for injected in sorted(INJECTED):
            if not one_typo_away(parameter.name, injected):
                continue
            owner = getattr(function, "__name__", None) or type(function).__name__
            if parameter.default is parameter.empty:
                raise ConfigError(
                    f"{where}: {owner}() has a parameter {parameter.name!r}; did you mean "
                    f"{injected!r}? weirflow passes {' and '.join(sorted(INJECTED))} by name "
                    f"and the previous stage's output as the first parameter; rename it "
                    f"{injected!r}, or give the item's parameter another name (e.g. 'item')"
                )
            logger.warning(
                "%s: %s() has a parameter %r with a default; did you mean %r? It always gets "
                "its default",
                where,
                owner,
                parameter.name,
                injected,
            )


def make_once(lazy: Lazy[Any], where: str, pipeline: str, called: str = "") -> Any:
    """Make the object once at build time, so its own checks run now, then release it.

    Returns the (closed) object, for what its class says about it (``continuous``).

    Its configuration errors are re-raised naming the stage (``where``) and the builder method
    ``called`` instead of the class (``MqttSource(port=...)`` → ``with_mqtt_connector(port=...)``),
    with long quoted values cut.
    """
    try:
        made = lazy.get()
    except ConfigError as error:
        message = shorten_quotes(str(error))
        factory = getattr(lazy.factory, "__name__", "")
        if called and factory:
            message = message.replace(f"{factory}(", f"{called}(")
        if where not in message:
            prefix = f"pipeline {pipeline!r}"
            message = (
                where + message[len(prefix) :]
                if message.startswith(prefix)
                else f"{where}: {message}"
            )
        if message != str(error):
            raise _same_kind(error, message) from error.__cause__
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {shorten_quotes(str(error))}") from error
    finally:
        lazy.close()
    return made


def _same_kind(error: ConfigError, message: str) -> ConfigError:
    try:
        return type(error)(message)
    except TypeError:
        return ConfigError(message)


def _binding_problem(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> str:
    parameters = list(signature.parameters.values())[1:]  # without self
    keywords = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters)
    for name in kwargs:
        if name not in keywords and not takes_any:
            return (
                f"has no parameter {shown(name)}{did_you_mean(name, keywords)}; it takes "
                f"{', '.join(keywords)}"
            )
    positional = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(args) > len(positional):
        return (
            f"takes at most {len(positional)} positional argument"
            f"{'s' * (len(positional) != 1)} ({', '.join(positional)}), got {len(args)}; "
            "give the others by name"
        )
    for name in positional[: len(args)]:
        if name in kwargs:
            return f"got {name} twice, by position and by name; give it once"
    for parameter in parameters:
        if parameter.kind == inspect.Parameter.POSITIONAL_ONLY and parameter.name in kwargs:
            return (
                f"takes {parameter.name} by position, first: write it without '{parameter.name}='"
            )
    missing = [
        p.name
        for p in parameters
        if p.default is p.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in kwargs
        and p.name not in positional[: len(args)]
    ]
    if missing:
        return f"needs {', '.join(missing)}"
    return f"cannot take these arguments; its parameters are {signature}"
