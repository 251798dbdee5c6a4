"""The kind names of storages, senders and connectors: one registry each, one mechanism.

``with_storage("json")``, ``send("http_post")`` and ``with_connector("mqtt")`` look a name up in
:data:`STORAGES`, :data:`SENDERS` or :data:`CONNECTORS`; :func:`register_storage`,
:func:`register_sender` and :func:`register_connector` add a name (the built-ins register
themselves the same way, one line each, in ``storages/``, ``senders/`` and ``connectors/``).

A *factory* is anything that makes the object from the options: a class (``RedisStorage``), a
function, or the text ``"package.module:name"`` naming one, imported on first use (so a kind
costs nothing until a pipeline uses it, and nothing imports the module back). It is called as
``factory(**options)``, plus ``pipeline=<the pipeline's name>`` when it has a ``pipeline``
parameter (or ``**kwargs``). Option names are checked against its signature before the call,
with a "did you mean"; a factory taking ``**options`` checks its own (or lists the names it
takes in an ``accepts`` attribute).

The builder looks the factory up when the stage is added and keeps the factory itself in the
pipeline, so a pipeline process (``FlowBuilder(use_threads=False)``) or a worker process uses
it without consulting its own registry. The factory travels with cloudpickle: a module-level
class or function is sent by reference (its module is imported in the process), a lambda or a
closure by value; a ``"module:name"`` text always works.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from ._errors import ConfigError, InvalidArgumentError
from ._hints import did_you_mean, shown
from .abc import Sender, Source, Storage

__all__ = [
    "CONNECTORS",
    "SENDERS",
    "STORAGES",
    "Factory",
    "Recipe",
    "Registry",
    "accepted_options",
    "check_options",
    "register_connector",
    "register_sender",
    "register_storage",
]

T = TypeVar("T")

Style = Literal["listing", "takes"]

Factory = Callable[..., Any] | str
"""A class or function making the object from its options, or ``"module:name"`` naming one."""

_GIVEN = ("self", "pipeline")  # parameters weirflow fills, never options


class Registry(Mapping[str, Callable[..., T]], Generic[T]):
    """Kind name → factory, for one kind of extension; a read-only mapping plus :meth:`register`.

    Args:
        what: ``"storage"``, ``"sender"`` or ``"connector"``, for messages.
        base: the class every made object must be an instance of.
        otherwise: what else the builder method takes, for the unknown-name message.
        style: how an unknown option is reported (see :func:`check_options`).

    Example:
        >>> from weirflow.testing import ListStorage
        >>> kinds = Registry("storage", Storage, "a Storage object")
        >>> kinds.register("memory", ListStorage)
        >>> list(kinds), kinds.recipe("memory", pipeline="p", context="p")().load()
        (['memory'], [])
    """

    def __init__(
        self, what: str, base: type[Any], otherwise: str, style: Style = "listing"
    ) -> None:
        self.what = what
        self.base = base
        self.otherwise = otherwise
        self.style = style
        self._entries: dict[str, Factory] = {}

    def register(self, name: str, factory: Factory, *, replace: bool = False) -> None:
        """Make ``name`` mean ``factory``.

        Args:
            name: the kind name; a taken one is refused unless ``replace``.
            factory: a class or a function making the object, called as
                ``factory(**options)`` plus ``pipeline=`` when it has that parameter; or the
                text ``"package.module:name"`` naming one, imported on first use. For
                ``FlowBuilder(use_threads=False)`` and process workers it must be picklable
                with cloudpickle: define it at module level (it is sent by reference and its
                module imported in the process) or give its ``"package.module:name"``.
            replace: replace a name registered already.

        Raises:
            InvalidArgumentError: ``name`` is taken and ``replace`` is False, ``name`` is not a
                non-empty str, or ``factory`` is neither callable nor ``"module:name"``.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(
                f"register_{self.what}: the name must be a non-empty str, got {shown(name)}"
            )
        if isinstance(factory, str):
            if factory.count(":") != 1 or not all(factory.split(":")):
                raise InvalidArgumentError(
                    f"register_{self.what}({name!r}): a factory given as text is "
                    f"'package.module:name', got {shown(factory)}"
                )
        elif not callable(factory):
            raise InvalidArgumentError(
                f"register_{self.what}({name!r}): the factory must be a class, a function or "
                f"'package.module:name', got {type(factory).__name__} {shown(factory)}"
            )
        if name in self._entries and not replace:
            raise InvalidArgumentError(
                f"a {self.what} kind {name!r} is registered already; pass replace=True to "
                "replace it"
            )
        self._entries[name] = factory

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a ``KeyError`` if it is not registered)."""
        del self._entries[name]

    __delitem__ = unregister

    def names(self) -> tuple[str, ...]:
        """The registered names, in the order they were registered."""
        return tuple(self._entries)

    def __getitem__(self, name: str) -> Callable[..., T]:
        factory = self._entries[name]
        if isinstance(factory, str):
            factory = _imported(factory)
            self._entries[name] = factory
        return factory

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def unknown(self, name: object, context: str, extra: tuple[str, ...] = ()) -> ConfigError:
        """The error for a name nobody registered: a "did you mean" and every valid name."""
        names = (*self._entries, *extra)
        return InvalidArgumentError(
            f"{context}: unknown {self.what} kind {shown(name)}{did_you_mean(name, names)}; "
            f"use one of {', '.join(repr(known) for known in names)}, {self.otherwise}"
        )

    def recipe(self, name: str, *, pipeline: str, context: str) -> Recipe[T]:
        """How to make kind ``name`` for ``pipeline``: a picklable callable taking the options.

        Raises:
            ConfigError: ``name`` is not registered (with a "did you mean").
        """
        if name not in self._entries:
            raise self.unknown(name, context)
        return Recipe(self.what, self.base, name, self[name], pipeline, context, self.style)


@dataclass(frozen=True)
class Recipe(Generic[T]):
    """Makes one registered kind for one pipeline: ``recipe(**options)``.

    It checks the option names, passes ``pipeline`` when the factory takes it, and checks that
    the factory made a ``base`` instance. Picklable when the factory is (see the module).
    """

    what: str
    base: type[Any]
    name: str
    factory: Callable[..., T]
    pipeline: str
    context: str
    style: Style = "listing"

    @property
    def __name__(self) -> str:  # how ``make_once`` names what failed
        return str(getattr(self.factory, "__name__", self.name))

    def accepts(self, option: str) -> bool:
        """Whether the factory takes ``option`` by name (declared, not just ``**options``)."""
        accepted = accepted_options(self.factory)
        return accepted is not None and option in accepted

    def __call__(self, **options: Any) -> T:
        accepted = accepted_options(self.factory)
        if accepted is not None:
            what = f"{self.name!r} {self.what}s"
            check_options(options, accepted, self.context, what, self.style)
        if _takes_pipeline(self.factory):
            options = {**options, "pipeline": self.pipeline}
        made = self.factory(**options)
        if not isinstance(made, self.base):
            close = getattr(made, "close", None)
            if callable(close):
                close()
            raise ConfigError(
                f"{self.context}: the factory of {self.what} kind {self.name!r} returned "
                f"{type(made).__name__}, not a {self.base.__name__}"
            )
        return made


def check_options(
    options: Iterable[str],
    accepted: Sequence[str],
    context: str,
    what: str,
    style: Style = "listing",
) -> None:
    """Refuse an option name not in ``accepted``, with a "did you mean" and the valid names.

    ``style="listing"`` (storages, connectors) lists the options of ``what`` in their order;
    ``"takes"`` (senders) says what the call takes, sorted.

    Example:
        >>> check_options(["pth"], ["path", "preprocessing"], "pipeline 'p'", "'json' storages")
        Traceback (most recent call last):
        ...
        weirflow.InvalidArgumentError: pipeline 'p': unknown option 'pth'; did you mean 'path'? options of 'json' storages: path, preprocessing
        >>> check_options(["url"], ["topic", "destination"], "send('x')", "", style="takes")
        Traceback (most recent call last):
        ...
        weirflow.InvalidArgumentError: send('x') got unknown option 'url' (did you mean 'destination'?); it takes destination, topic
    """  # noqa: E501
    for option in options:
        if option in accepted:
            continue
        hint = did_you_mean(option, accepted)
        if style == "takes":
            raise InvalidArgumentError(
                f"{context} got unknown option {shown(option)}{hint}; it takes "
                f"{', '.join(sorted(set(accepted))) or 'no options'}"
            )
        hint = hint.strip(" ()")
        raise InvalidArgumentError(
            f"{context}: unknown option {shown(option)}; {hint + ' ' if hint else ''}"
            f"options of {what}: {', '.join(accepted) or 'none'}"
        )


def accepted_options(factory: Callable[..., Any]) -> tuple[str, ...] | None:
    """The option names ``factory`` takes; None when it takes any (``**options``).

    Its ``accepts`` attribute if it has one, else its signature without ``pipeline``.

    Example:
        >>> def make(path, *, preprocessing=None, pipeline="?"): ...
        >>> accepted_options(make)
        ('path', 'preprocessing')
    """
    declared = getattr(factory, "accepts", None)
    if isinstance(declared, tuple):
        return declared
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return tuple(
        parameter.name
        for parameter in parameters
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        and parameter.name not in _GIVEN
    )


def _takes_pipeline(factory: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        parameter.name == "pipeline" or parameter.kind is parameter.VAR_KEYWORD
        for parameter in parameters
    )


def _imported(reference: str) -> Callable[..., Any]:
    module, _, name = reference.partition(":")
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


STORAGES: Registry[Storage] = Registry("storage", Storage, "a Storage object or a function")
"""The storage kinds ``with_storage(kind, **options)`` takes."""

SENDERS: Registry[Sender] = Registry("sender", Sender, "a Sender or a function", "takes")
"""The sender kinds ``send(kind, **options)`` takes."""

CONNECTORS: Registry[Source] = Registry(
    "connector", Source, "or a Source object with with_source(...)"
)
"""The connector kinds ``with_connector(kind, **options)`` takes."""


def register_storage(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make ``with_storage(name, **options)`` use ``factory(**options)``.

    Args:
        name: the kind name (``"redis"``).
        factory: a :class:`~weirflow.Storage` class, a function returning one, or its
            ``"package.module:name"``; see :meth:`Registry.register`.
        replace: replace a name registered already.

    Raises:
        InvalidArgumentError: see :meth:`Registry.register`.

    Example:
        >>> import os, tempfile, weirflow
        >>> from weirflow.testing import ListStorage
        >>> weirflow.register_storage("memory", ListStorage)
        >>> path = os.path.join(tempfile.mkdtemp(), "items")
        >>> flow = (weirflow.FlowBuilder().add_pipeline("p").with_core_logic(lambda: 42)
        ...         .with_storage("memory", path=path).build())
        >>> flow.launch_flow()
        >>> flow.storage("p").load()
        [42]
        >>> STORAGES.unregister("memory")
    """
    STORAGES.register(name, factory, replace=replace)


def register_sender(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make ``send(name, **options)`` use ``factory(**options)``.

    Args:
        name: the kind name (``"amqp"``).
        factory: a :class:`~weirflow.Sender` class, a function returning one, or its
            ``"package.module:name"``; see :meth:`Registry.register`.
        replace: replace a name registered already.

    Raises:
        InvalidArgumentError: see :meth:`Registry.register`.

    Example:
        >>> import weirflow
        >>> from weirflow.senders.function import FunctionSender
        >>> def printer(*, prefix="", pipeline="?"):
        ...     return FunctionSender(lambda item: print(prefix, item), pipeline=pipeline)
        >>> weirflow.register_sender("print", printer)
        >>> flow = (weirflow.FlowBuilder().add_pipeline("p").with_core_logic(lambda: 42)
        ...         .send("print", prefix="got").build())
        >>> flow.launch_flow()
        got 42
        >>> SENDERS.unregister("print")
    """
    SENDERS.register(name, factory, replace=replace)


def register_connector(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make ``with_connector(name, **options)`` use ``factory(**options)``.

    A source whose ``continuous`` is True starts its pipeline and runs as long as the flow.

    Args:
        name: the kind name (``"kafka"``).
        factory: a :class:`~weirflow.Source` class, a function returning one, or its
            ``"package.module:name"``; see :meth:`Registry.register`.
        replace: replace a name registered already.

    Raises:
        InvalidArgumentError: see :meth:`Registry.register`.

    Example:
        >>> import weirflow
        >>> from weirflow.testing import ListSource
        >>> weirflow.register_connector("numbers", ListSource)
        >>> flow = (weirflow.FlowBuilder().add_pipeline("p")
        ...         .with_connector("numbers", items=[1, 2, 3])
        ...         .with_core_logic(lambda item: item * 10).with_storage(print).build())
        >>> flow.launch_flow()
        10
        20
        30
        >>> CONNECTORS.unregister("numbers")
    """
    CONNECTORS.register(name, factory, replace=replace)
