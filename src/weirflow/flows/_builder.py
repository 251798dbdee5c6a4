"""``FlowBuilder``: describe a data service in a few chained calls; ``build()`` checks it all.

The method names are wiredflow's (``add_pipeline``, ``with_configuration``,
``with_http_connector``, ``with_core_logic``, ``with_storage``, ``send``, ``build``), so its users
feel at home. Every mistake that can be found before the service starts is a
:class:`~weirflow.ConfigError` raised by ``build()`` (or by the call that made it), naming the
pipeline, the stage and the field, and saying what to change.
"""

from __future__ import annotations

import numbers
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from .._errors import ConfigError
from .._interfaces import Sender, Source, Storage
from .._runtime._spec import KINDS, Kind
from ._lazy import Lazy, existing
from ._pipeline import POLICIES, Pipeline
from ._schedule import Cron, Interval, Once, Schedule, is_valid_cron
from ._stages import StageDef, call_convention
from ._streams import StreamSender, StreamSource


class PipelineBuilder:
    """The stages of one pipeline, added in order; every method returns the builder."""

    def __init__(
        self,
        flow: FlowBuilder,
        name: str,
        schedule: Schedule | None,
        on_failure: str,
        max_restarts: int,
        restart_backoff_seconds: float,
    ) -> None:
        self._flow = flow
        self.name = name
        self._schedule = schedule
        self._on_failure = on_failure
        self._max_restarts = max_restarts
        self._restart_backoff_seconds = restart_backoff_seconds
        self._stages: list[StageDef] = []
        self._labels: dict[str, int] = {}

    # -- sources ----------------------------------------------------------------------------

    def with_configuration(
        self,
        function: Callable[..., Any],
        *,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        on_start: Callable[..., Any] | None = None,
        on_done: Callable[..., Any] | None = None,
    ) -> PipelineBuilder:
        """A function that returns parameters (a dict) for the next stage, e.g. the request."""
        return self._function_stage(
            "configuration", function, kind, workers, maxsize, on_start, on_done
        )

    def with_http_connector(
        self,
        source: str | Callable[..., str],
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float = 10.0,
        retries: int = 2,
        *,
        configuration: str | None = None,
        verify: bool | str = True,
        cert: Any = None,
        decode: str = "json",
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        max_body_bytes: int | None = 100 * 1024 * 1024,
        deadline_seconds: float | None = None,
        redact: Any = None,
    ) -> PipelineBuilder:
        """Each run, request ``source`` (a URL, or a function returning one); pass the body on.

        ``max_body_bytes``, ``deadline_seconds`` and ``redact``: see
        :class:`~weirflow.connectors.http.HttpSource`.
        """
        from ..connectors.http import HttpSource

        label = self._label("http_connector")
        options: dict[str, Any] = {
            "source": source,
            "method": method,
            "headers": dict(headers or {}),
            "params": dict(params or {}),
            "json": json,
            "timeout": timeout,
            "retries": retries,
            "verify": verify,
            "cert": cert,
            "decode": decode,
            "pipeline": self.name,
            "max_body_bytes": max_body_bytes,
            "deadline_seconds": deadline_seconds,
            "redact": redact,
        }
        if configuration is not None:
            options["configuration"] = configuration
        lazy: Lazy[Source] = Lazy(HttpSource, **options)
        _validate(lazy)
        return self._add(
            StageDef(
                label,
                "source",
                *self._engine(label, kind, workers, maxsize),
                source=lazy,
                description=f"http {method if configuration is None else configuration.upper()}",
            )
        )

    def with_mqtt_connector(
        self,
        source: str = "localhost",
        port: int = 1883,
        topic: str | list[str] = "#",
        qos: int = 1,
        *,
        with_topic: bool = False,
        maxsize: int = 0,
        **options: Any,
    ) -> PipelineBuilder:
        """Subscribe to ``topic`` on the MQTT broker ``source``: a continuous source.

        Options are those of :class:`~weirflow.connectors.mqtt.MqttSource` (``username``,
        ``password``, ``tls``, ``client_id``, ``clean_start``, ``decode``, ``at_least_once``,
        ``dead_letter``...). With ``qos=1`` and a ``client_id``, each message is acknowledged to
        the broker only after the pipeline's last stage is done with it. With
        ``with_topic=True`` the next stage gets ``{"topic": ..., "payload": ...}`` for each
        message instead of the payload alone (one subscription to ``sensors/#`` then tells
        which sensor spoke).
        """
        from ..connectors.mqtt import MqttSource

        label = self._label("mqtt_connector")
        lazy: Lazy[Source] = Lazy(
            MqttSource,
            source=source,
            port=port,
            topic=topic,
            qos=qos,
            with_topic=with_topic,
            pipeline=self.name,
            **options,
        )
        _validate(lazy, self._where(label))
        return self._add(
            StageDef(
                label,
                "source",
                *self._engine(label, "thread", 1, maxsize),
                source=lazy,
                continuous=True,
                description=f"mqtt {topic!r} on {source}:{port}",
            )
        )

    def with_stream_connector(self, name: str, *, maxsize: int = 0) -> PipelineBuilder:
        """Read the flow's stream ``name`` (filled by another pipeline's ``send("stream")``)."""
        label = self._label("stream_connector")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self._where(label)}: name must be a non-empty string")
        self._flow._stream_readers.setdefault(name, []).append(self.name)
        lazy: Lazy[Source] = Lazy(StreamSource, flow_id=self._flow.flow_id, name=name)
        return self._add(
            StageDef(
                label,
                "source",
                *self._engine(label, "thread", 1, maxsize),
                source=lazy,
                continuous=True,
                description=f"stream {name!r}",
            )
        )

    def with_source(self, source: Source, *, maxsize: int = 0) -> PipelineBuilder:
        """Any :class:`~weirflow.Source` object (continuous or once per run)."""
        label = self._label("source")
        if not isinstance(source, Source):
            raise ConfigError(f"{self._where(label)}: expected a weirflow Source, got {source!r}")
        return self._add(
            StageDef(
                label,
                "source",
                *self._engine(label, "thread", 1, maxsize),
                source=existing(source),
                continuous=source.continuous,
                description=type(source).__name__,
            )
        )

    # -- transforms and sinks -----------------------------------------------------------------

    def with_core_logic(
        self,
        function: Callable[..., Any],
        *,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        on_start: Callable[..., Any] | None = None,
        on_done: Callable[..., Any] | None = None,
    ) -> PipelineBuilder:
        """Your function: returns one item, yields many, or returns None to drop."""
        return self._function_stage(
            "core_logic", function, kind, workers, maxsize, on_start, on_done
        )

    def _function_stage(
        self,
        role: Literal["configuration", "core_logic"],
        function: Callable[..., Any],
        kind: str,
        workers: int,
        maxsize: int,
        on_start: Callable[..., Any] | None,
        on_done: Callable[..., Any] | None,
    ) -> PipelineBuilder:
        label = self._label(role)
        call_convention(function, self._where(label), resources_possible=on_start is not None)
        return self._add(
            StageDef(
                label,
                role,
                *self._engine(label, kind, workers, maxsize),
                function=function,
                on_start=on_start,
                on_done=on_done,
                description=f"{role.replace('_', ' ')} {_name(function)}",
            )
        )

    def with_storage(
        self,
        storage: str | Storage | Callable[..., Any],
        /,
        *,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        **options: Any,
    ) -> PipelineBuilder:
        """Save every item ("json", "jsonl", "csv", "sql", a Storage or a function)."""
        label = self._label("storage")
        where = self._where(label)
        engine = self._engine(label, kind, workers, maxsize)
        if isinstance(storage, Storage):
            lazy: Lazy[Storage] = existing(storage)
            description = type(storage).__name__
        else:
            from ..storages import create_storage

            if storage == "sql" and "pool_size" not in options:
                options["pool_size"] = workers  # one connection per worker
            lazy = Lazy(create_storage, kind=storage, pipeline=self.name, options=options)
            description = f"storage {storage!r}" if isinstance(storage, str) else _name(storage)
            _validate(lazy, where)
        if self.name in self._flow._storages:
            raise ConfigError(
                f"{where}: pipeline {self.name!r} already has a storage; db_connectors gives "
                "one storage per pipeline"
            )
        self._flow._storages[self.name] = lazy
        return self._add(
            StageDef(
                label,
                "storage",
                *engine,
                storage=lazy,
                description=description,
            )
        )

    def send(
        self,
        sender: str | Sender | Callable[..., Any] | None = None,
        /,
        *,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        **options: Any,
    ) -> PipelineBuilder:
        """Deliver every item ("http_post", "http_put", "stream", a Sender or a function)."""
        label = self._label("send")
        where = self._where(label)
        if sender is None:
            raise ConfigError(
                f"{where}: say how to send: send('http_post', destination=...), "
                "send('http_put', ...), send('stream', name=...), a Sender or a function"
            )
        if sender == "stream":
            name = options.pop("name", None)
            if not isinstance(name, str) or not name or options:
                raise ConfigError(
                    f"{where}: send('stream') takes only name=<stream name>, got "
                    f"name={name!r}{', ' + ', '.join(options) if options else ''}"
                )
            self._flow._stream_writers.setdefault(name, []).append(self.name)
            lazy: Lazy[Sender] = Lazy(StreamSender, flow_id=self._flow.flow_id, name=name)
            description = f"stream {name!r}"
        elif isinstance(sender, Sender):
            lazy = existing(sender)
            description = type(sender).__name__
        else:
            from ..senders import create_sender

            lazy = Lazy(create_sender, kind=sender, pipeline=self.name, options=options)
            _validate(lazy, where)
            description = f"send {sender!r}" if isinstance(sender, str) else _name(sender)
        return self._add(
            StageDef(
                label,
                "sender",
                *self._engine(label, kind, workers, maxsize),
                sender=lazy,
                description=description,
            )
        )

    # -- helpers ------------------------------------------------------------------------------

    def build(self) -> Any:
        """Build the whole flow (same as the flow builder's ``build``)."""
        return self._flow.build()

    def _label(self, base: str) -> str:
        count = self._labels.get(base, 0) + 1
        self._labels[base] = count
        return base if count == 1 else f"{base}_{count}"

    def _where(self, label: str) -> str:
        return f"pipeline {self.name!r}, stage '{self.name}.{label}'"

    def _engine(self, label: str, kind: str, workers: int, maxsize: int) -> tuple[Kind, int, int]:
        where = self._where(label)
        if kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"{where}: workers must be a whole number >= 1, got {workers!r}")
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ConfigError(
                f"{where}: maxsize must be a whole number >= 0 (0 = unbounded), got {maxsize!r}"
            )
        return kind, workers, maxsize

    def _add(self, stage: StageDef) -> PipelineBuilder:
        self._stages.append(stage)
        return self

    def _pipeline(self) -> Pipeline:
        stages = tuple(self._stages)
        _check_order(self.name, stages)
        schedule = self._schedule or Once()
        if stages[0].continuous and schedule.repeats:
            raise ConfigError(
                f"pipeline {self.name!r}: its source {stages[0].description} runs continuously; "
                "remove timedelta_seconds/cron from add_pipeline"
            )
        return Pipeline(
            self.name,
            schedule,
            stages,
            on_failure=self._on_failure,  # type: ignore[arg-type]
            max_restarts=self._max_restarts,
            restart_backoff_seconds=self._restart_backoff_seconds,
        )


class FlowBuilder:
    """Describes a flow: pipelines, their stages and schedules.

    Args:
        use_threads: run each pipeline in a thread (default) or, with False, in a process of
            its own (same results, same failure behaviour).

    Example:
        >>> import tempfile, pathlib
        >>> from weirflow import FlowBuilder
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> builder = FlowBuilder()
        >>> _ = builder.add_pipeline("numbers").with_core_logic(lambda: [1, 2, 3]) \\
        ...     .with_storage("json", path=str(folder / "numbers.json"))
        >>> flow = builder.build()
        >>> flow.launch_flow()
        >>> flow.storage("numbers").load()
        [[1, 2, 3]]
    """

    def __init__(self, use_threads: bool = True) -> None:
        self.use_threads = use_threads
        self.flow_id = uuid.uuid4().hex
        self._pipelines: list[PipelineBuilder] = []
        self._storages: dict[str, Lazy[Storage]] = {}
        self._stream_readers: dict[str, list[str]] = {}
        self._stream_writers: dict[str, list[str]] = {}

    def add_pipeline(
        self,
        name: str,
        timedelta_seconds: float | None = None,
        cron: str | None = None,
        delay_seconds: float = 0,
        *,
        timedelta_minutes: float | None = None,
        on_failure: str = "stop",
        max_restarts: int = 5,
        restart_backoff_seconds: float = 1.0,
    ) -> PipelineBuilder:
        """Start a pipeline: every ``timedelta_seconds``, on ``cron``, or once (or continuously).

        ``on_failure``: ``"stop"`` (the flow stops and ``launch_flow`` raises), ``"restart"``
        (exponential back-off, at most ``max_restarts`` times in a row) or ``"continue"``.
        """
        where = f"pipeline {name!r}"
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"add_pipeline: name must be a non-empty string, got {name!r}")
        if timedelta_minutes is not None:
            if timedelta_seconds is not None:
                raise ConfigError(f"{where}: give timedelta_seconds or timedelta_minutes, not both")
            timedelta_seconds = timedelta_minutes * 60
        if timedelta_seconds is not None and cron is not None:
            raise ConfigError(f"{where}: give timedelta_seconds or cron, not both")
        if not _number(delay_seconds) or delay_seconds < 0:
            raise ConfigError(f"{where}: delay_seconds must be >= 0, got {delay_seconds!r}")
        schedule: Schedule | None = None
        if timedelta_seconds is not None:
            if not _number(timedelta_seconds) or timedelta_seconds <= 0:
                raise ConfigError(
                    f"{where}: timedelta_seconds must be a number > 0, got {timedelta_seconds!r}"
                )
            schedule = Interval(float(timedelta_seconds), float(delay_seconds))
        elif cron is not None:
            if not isinstance(cron, str) or not is_valid_cron(cron):
                raise ConfigError(
                    f"{where}: cron {cron!r} is not a valid cron expression "
                    "(five fields, e.g. '*/5 * * * *')"
                )
            schedule = Cron(cron, float(delay_seconds))
        elif delay_seconds:
            schedule = Once(float(delay_seconds))
        if on_failure not in POLICIES:
            raise ConfigError(
                f"{where}: on_failure must be one of {', '.join(POLICIES)}, got {on_failure!r}"
            )
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise ConfigError(f"{where}: max_restarts must be a whole number >= 0")
        if not _number(restart_backoff_seconds) or restart_backoff_seconds < 0:
            raise ConfigError(f"{where}: restart_backoff_seconds must be >= 0")
        pipeline = PipelineBuilder(
            self, name, schedule, on_failure, max_restarts, float(restart_backoff_seconds)
        )
        self._pipelines.append(pipeline)
        return pipeline

    def build(self) -> Any:
        """Check everything and return the :class:`~weirflow.flows.Flow`."""
        from ._flow import Flow

        if not self._pipelines:
            raise ConfigError("the flow has no pipelines; add one with add_pipeline(name)")
        seen: set[str] = set()
        for pipeline in self._pipelines:
            if pipeline.name in seen:
                raise ConfigError(
                    f"pipeline {pipeline.name!r} is defined twice; pipeline names must be "
                    "unique (they name storages, logs and errors)"
                )
            seen.add(pipeline.name)
        pipelines = tuple(pipeline._pipeline() for pipeline in self._pipelines)
        for name, readers in self._stream_readers.items():
            if name not in self._stream_writers:
                raise ConfigError(
                    f"pipeline {readers[0]!r} reads stream {name!r}, but no pipeline sends to "
                    f"it; add .send('stream', name={name!r}) to a pipeline"
                )
            if len(readers) > 1:
                raise ConfigError(
                    f"stream {name!r} is read by {', '.join(map(repr, readers))}; a stream has "
                    "one reader (send to two streams to fan out)"
                )
        for name, writers in self._stream_writers.items():
            if name not in self._stream_readers:
                raise ConfigError(
                    f"pipeline {writers[0]!r} sends to stream {name!r}, but no pipeline reads "
                    f"it; add .with_stream_connector({name!r}) to a pipeline"
                )
        return Flow(
            pipelines,
            storages=dict(self._storages),
            streams={name: len(set(writers)) for name, writers in self._stream_writers.items()},
            use_threads=self.use_threads,
            flow_id=self.flow_id,
        )


def _check_order(pipeline: str, stages: tuple[StageDef, ...]) -> None:
    """Stages must be able to feed each other."""
    if not stages:
        raise ConfigError(
            f"pipeline {pipeline!r} has no stages; add a connector, core logic, storage or sender"
        )
    first = stages[0]
    if first.role in ("storage", "sender"):
        raise ConfigError(
            f"pipeline {pipeline!r}: stage '{pipeline}.{first.label}' has nothing to "
            f"{'store' if first.role == 'storage' else 'send'}; put a connector or core logic "
            "before it"
        )
    seen_data = False
    for position, stage in enumerate(stages):
        where = f"pipeline {pipeline!r}: stage '{pipeline}.{stage.label}'"
        if stage.continuous and position != 0:
            raise ConfigError(
                f"{where} is a continuous source and must be the pipeline's first stage"
            )
        if stage.role == "configuration" and seen_data:
            raise ConfigError(
                f"{where}: a configuration produces parameters for the stage after it, so it "
                "must come before connectors, core logic, storages and senders"
            )
        if stage.role == "source" and seen_data and not stage.continuous:
            raise ConfigError(
                f"{where}: a connector cannot follow core logic, a storage or a sender (they "
                "pass data, not parameters); start another pipeline and join them through "
                "db_connectors or a stream"
            )
        if stage.role == "configuration":
            following = stages[position + 1] if position + 1 < len(stages) else None
            if following is None or following.role in ("storage", "sender"):
                raise ConfigError(
                    f"{where}: a configuration produces parameters, not data; put a connector "
                    "or core logic after it"
                )
        if stage.role in ("source", "core_logic", "storage", "sender"):
            seen_data = True


def _validate(lazy: Lazy[Any], where: str | None = None) -> None:
    """Make the object once at build time, so its own checks run now, then release it."""
    try:
        made = lazy.get()
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where or 'stage'}: {error}") from error
    finally:
        lazy.close()
    del made


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _name(function: Any) -> str:
    return str(getattr(function, "__name__", None) or type(function).__name__)
