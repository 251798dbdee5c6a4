"""``FlowBuilder``: describe a data service in a few chained calls; ``build()`` checks it all.

The method names are wiredflow's (``add_pipeline``, ``with_configuration``,
``with_http_connector``, ``with_core_logic``, ``with_storage``, ``send``, ``build``), so its users
feel at home. Every mistake that can be found before the service starts is a
:class:`~weirflow.ConfigError` raised by ``build()`` (or by the call that made it), naming the
pipeline, the stage and the field, and saying what to change.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from .._errors import ConfigError
from .._hints import did_you_mean, shown
from .._interfaces import Sender, Source, Storage
from .._registry import SENDERS, STORAGES, Recipe
from .._retry import NO_RETRY, Retry
from .._runtime._spec import KINDS, Kind
from .._runtime.executors import get_executor_class
from ..connectors import CONNECTORS
from ..senders import create_sender
from ..storages import create_storage
from ._cron import schedule_of
from ._dead_letters import DeadLetters, DeadLetterTarget, dead_letters
from ._distribution import StreamTopology, check_distribution, default_flow_name
from ._lazy import Lazy, existing
from ._pipeline import POLICIES, Pipeline
from ._schedule import Once, Schedule
from ._stages import StageDef, call_convention
from ._streams import StreamSender, StreamSource
from ._validate import (
    MAX_WORKERS,
    check_flag,
    check_injected_names,
    check_keywords,
    check_option_values,
    check_pipeline_name,
    check_seconds,
    check_stream_name,
    check_whole,
    keywords_checked,
    make_once,
)


class PipelineBuilder:
    """The stages of one pipeline, added in order; every method returns the builder.

    What every stage method checks when it is called (each mistake a
    :class:`~weirflow.ConfigError` naming ``pipeline.stage`` and the field):

    - keywords: a misspelt or unknown one gets a "did you mean" (``worker=`` → ``workers``,
      ``url=`` → ``destination``), as do the options passed on to a connector, storage or sender;
    - ``kind``: one of sync, thread, task, process, ray; ``workers``: a whole number from 1 to 1024;
      ``maxsize``: a whole number >= 0 (0: unbounded); never a bool, a float or NaN;
    - option values: no NaN or infinity; seconds (``timeout``, ``backoff``, ``*_delay``...) at
      most ten years, ``retries`` at most 10,000;
    - user functions (core logic, configuration): the first parameter receives the previous
      stage's output; ``db_connectors`` and ``pipeline_name`` are given by name. A parameter
      without a default one typo away from one of those (``db_connector``, ``pipline_name``,
      ``pipelineName``) is refused as a misspelling, first parameter included; name the item's
      parameter something else (``item``, ``row``).
    """

    def __init__(
        self,
        flow: FlowBuilder,
        name: str,
        schedule: Schedule | None,
        on_failure: str,
        max_restarts: int,
        restart_backoff_seconds: float,
        dead_letter: DeadLetters | None = None,
    ) -> None:
        self._flow = flow
        self._dead_letter = dead_letter
        self.name = name
        self._schedule = schedule
        self._on_failure = on_failure
        self._max_restarts = max_restarts
        self._restart_backoff_seconds = restart_backoff_seconds
        self._stages: list[StageDef] = []
        self._labels: dict[str, int] = {}

    # -- sources ----------------------------------------------------------------------------

    @keywords_checked("configuration")
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
        """A function that returns parameters (a dict) for the next stage, e.g. the request.

        It runs first in each run and is commonly used for requests that depend on what was
        stored before (it may ask for ``db_connectors`` by name) or on the time. For an HTTP
        connector the keys are the request's options (``params``, ``headers``, ``json``,
        ``data``, ``method``, ``url``); other keys go into the query string of a GET or the
        JSON body of a POST. A configuration must be followed by a connector or core logic.

        Example:
            >>> from weirflow import FlowBuilder
            >>> from weirflow.testing import LocalHTTPServer
            >>> def ask_for_oslo():
            ...     return {"params": {"city": "Oslo"}}
            >>> with LocalHTTPServer() as server:
            ...     server.route("GET", "/weather", lambda request: {"city": request.query["city"]})
            ...     flow = (FlowBuilder().add_pipeline("weather")
            ...             .with_configuration(ask_for_oslo)
            ...             .with_http_connector(f"{server.url}/weather", retries=0)
            ...             .send(print).build())
            ...     flow.launch_flow()
            {'city': 'Oslo'}
        """
        return self._function_stage(
            "configuration", function, kind, workers, maxsize, on_start, on_done
        )

    @keywords_checked("connector")
    def with_connector(
        self,
        connector: str,
        /,
        *,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        **options: Any,
    ) -> PipelineBuilder:
        """Read items from a connector kind of :data:`~weirflow._registry.CONNECTORS`.

        ``"http"`` (:class:`~weirflow.connectors.http.HttpSource`), ``"mqtt"``
        (:class:`~weirflow.connectors.mqtt.MqttSource`), ``"stream"`` (the flow's own streams,
        as :meth:`with_stream_connector`) or a kind added with
        :func:`~weirflow.register_connector`. The options are those of the kind's factory,
        checked now (a misspelt one gets a "did you mean"); the source is made once at build
        time so its own checks run too. ``kind``, ``workers`` and ``maxsize`` are the stage's;
        a continuous source (``continuous = True``: a subscription, a stream) runs in one
        thread and must be the pipeline's first stage.

        Args:
            connector: the kind name (positional).
            kind: the worker kind of the stage (sync, thread, task, process).
            workers: how many workers read at once (sources read once per run).
            maxsize: how many items the stage holds ahead of the next one (0: unbounded).
            **options: the connector's options.

        Raises:
            ConfigError: an unknown kind (with a "did you mean" and the registered names), an
                unknown option, a bad value.

        Example:
            >>> from weirflow import FlowBuilder, register_connector
            >>> from weirflow.testing import ListSource
            >>> register_connector("letters", ListSource, replace=True)
            >>> flow = (FlowBuilder().add_pipeline("abc")
            ...         .with_connector("letters", items=["a", "b"]).with_storage(print).build())
            >>> flow.launch_flow()
            a
            b
            >>> FlowBuilder().add_pipeline("p").with_connector("leters", items=[])
            Traceback (most recent call last):
            ...
            weirflow.InvalidArgumentError: pipeline 'p', stage 'p.connector': with_connector('leters'): unknown connector kind 'leters' (did you mean 'letters'?); use one of 'http', 'mqtt', 'letters', 'stream', or a Source object with with_source(...)
            >>> CONNECTORS.unregister("letters")
        """  # noqa: E501
        if connector == "stream":
            if (kind, workers) != ("thread", 1):
                raise ConfigError(
                    f"{self._where(self._peek_label('stream_connector'))}: a stream is read by "
                    "one thread; remove kind=/workers= from with_connector('stream')"
                )
            return self.with_stream_connector(**options, maxsize=maxsize)
        known = isinstance(connector, str) and connector in CONNECTORS
        base = f"{connector}_connector" if known and connector.isidentifier() else "connector"
        context = f"{self._where(self._peek_label(base))}: with_connector({shown(connector)})"
        if not known:
            raise CONNECTORS.unknown(connector, context, extra=("stream",))
        recipe = CONNECTORS.recipe(connector, pipeline=self.name, context=context)
        return self._connector(
            base,
            recipe,
            options,
            (kind, workers, maxsize),
            f"{connector} connector",
            "with_connector",
        )

    @keywords_checked("http_connector")
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
        data: Any = None,
        configuration: str | None = None,
        verify: bool | str = True,
        cert: Any = None,
        decode: str = "json",
        backoff: float = 0.5,
        client: Any = None,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        max_body_bytes: int | None = 100 * 1024 * 1024,
        deadline_seconds: float | None = None,
        redact: Any = None,
    ) -> PipelineBuilder:
        """Each run, request ``source`` (a URL, or a function returning one); pass the body on.

        ``with_connector("http", ...)`` with the options of
        :class:`~weirflow.connectors.http.HttpSource`, every one of them (a test compares the
        two signatures), plus the stage's ``kind``, ``workers`` and ``maxsize``.

        Args:
            source: the URL, or a function of the configuration's parameters returning it.
            method: ``"GET"``, ``"POST"``...; ``configuration="get"|"post"`` is wiredflow's
                spelling of the same.
            headers: request headers (a dict).
            params: query parameters (a dict); ``json``/``data``: the request body.
            timeout: seconds per phase of a request (finite, at most ten years).
            retries: how many more times a failed request is tried (at most 10,000), waiting
                ``backoff`` seconds before the first retry, doubled for each next one.
            verify: TLS verification (True, False or a CA bundle path); ``cert``: a client
                certificate.
            decode: ``"json"``, ``"text"`` or ``"bytes"``.
            client: an ``httpx.Client`` to send with (not for process mode: it cannot be
                pickled).
            max_body_bytes: the largest body read; ``deadline_seconds``: the most one request
                may take, retries included; ``redact``: more secrets to mask in messages (see
                :class:`~weirflow.connectors.http.HttpSource`).
            kind: the worker kind of the stage; ``workers``: how many requests at once;
                ``maxsize``: items held ahead of the next stage (0: unbounded).

        Example:
            >>> from weirflow import FlowBuilder
            >>> from weirflow.testing import LocalHTTPServer
            >>> with LocalHTTPServer() as server:
            ...     server.route("GET", "/now", (200, {"temperature": 21.5}))
            ...     flow = (FlowBuilder().add_pipeline("now")
            ...             .with_http_connector(f"{server.url}/now", data=None, retries=0)
            ...             .with_storage(print).build())
            ...     flow.launch_flow()
            {'temperature': 21.5}
        """
        options = {name: value for name, value in locals().items() if name not in _STAGE_OWN}
        if configuration is None:
            del options["configuration"]  # given only when it is: describe_flow names it
        label = self._peek_label("http_connector")
        if not isinstance(method, str):
            raise ConfigError(
                f"{self._where(label)}: with_http_connector(method=...) must be a str such as "
                f"'GET' or 'POST', got {type(method).__name__} {shown(method)}"
            )
        recipe = CONNECTORS.recipe(
            "http", pipeline=self.name, context=f"{self._where(label)}: with_http_connector()"
        )
        shown_method = method if configuration is None else str(configuration).upper()
        return self._connector(
            "http_connector",
            recipe,
            options,
            (kind, workers, maxsize),
            f"http {shown_method}",
            "with_http_connector",
            rename=False,  # HttpSource's messages name the builder method already
        )

    @keywords_checked("mqtt_connector")
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

        ``with_connector("mqtt", ...)``: every option of
        :class:`~weirflow.connectors.mqtt.MqttSource` is taken and passed on (``username``,
        ``password``, ``tls``, ``client_id``, ``clean_start``, ``decode``, ``at_least_once``,
        ``dead_letter``...; a test checks each one), but ``maxsize`` is the stage's (items held
        ahead of the next stage). With ``qos=1`` and a ``client_id``, each message is
        acknowledged to the broker only after the pipeline's last stage is done with it. With
        ``with_topic=True`` the next stage gets ``{"topic": ..., "payload": ...}`` for each
        message instead of the payload alone (one subscription to ``sensors/#`` then tells which
        sensor spoke). A misspelt option gets a "did you mean"; delays must be finite and at
        most ten years.

        Example:
            >>> from weirflow import FlowBuilder
            >>> builder = FlowBuilder()
            >>> _ = (builder.add_pipeline("readings")
            ...      .with_mqtt_connector("localhost", topic="sensors/#", client_id="readings")
            ...      .with_storage(print))
            >>> builder.build().pipelines[0].stages[0].description
            "mqtt 'sensors/#' on localhost:1883"
        """
        source_class = CONNECTORS["mqtt"]
        label = self._peek_label("mqtt_connector")
        check_keywords(
            options,
            ["source", "port", "topic", "qos", "maxsize", *_mqtt_options(source_class)],
            self._where(label),
            "with_mqtt_connector()",
            set_by_weirflow=("pipeline",),
        )
        recipe = CONNECTORS.recipe(
            "mqtt", pipeline=self.name, context=f"{self._where(label)}: with_mqtt_connector()"
        )
        return self._connector(
            "mqtt_connector",
            recipe,
            {
                "source": source,
                "port": port,
                "topic": topic,
                "qos": qos,
                "with_topic": with_topic,
                **options,
            },
            ("thread", 1, maxsize),
            f"mqtt {shown(topic)} on {source}:{port}",
            "with_mqtt_connector",
        )

    def _connector(
        self,
        base: str,
        recipe: Recipe[Source],
        options: dict[str, Any],
        stage: tuple[str, int, int],
        description: str,
        method: str,
        *,
        rename: bool = True,
    ) -> PipelineBuilder:
        """Add the source stage ``recipe(**options)`` makes (made once now, for its checks).

        ``stage`` is the worker kind, workers and maxsize; ``method`` the builder method, named
        in messages instead of the factory when ``rename``.
        """
        label = self._label(base)
        where = self._where(label)
        check_option_values(options, where, method)
        lazy: Lazy[Source] = Lazy(recipe, **options)
        made = make_once(lazy, where, self.name, method if rename else "")
        continuous = bool(getattr(made, "continuous", False))
        engine = self._engine(label, *stage)
        if continuous and engine[:2] != ("thread", 1):
            raise ConfigError(
                f"{where}: {description} is a continuous source, read by one thread; remove "
                "kind=/workers="
            )
        return self._add(
            StageDef(
                label,
                "source",
                *engine,
                source=lazy,
                continuous=continuous,
                description=description,
            )
        )

    @keywords_checked("stream_connector")
    def with_stream_connector(
        self,
        name: str,
        *,
        maxsize: int = 0,
        claim_idle_seconds: float = 30.0,
        max_deliveries: int = 5,
    ) -> PipelineBuilder:
        """Read the flow's stream ``name`` (filled by another pipeline's ``send("stream")``).

        A continuous source: the pipeline runs as long as the stream is open (until every
        pipeline writing it is done, or the flow stops). ``with_connector("stream", name=...)``
        is the same. Several pipelines may read one stream: each gets every item.

        Through a broker (``FlowBuilder(broker="redis://...")``) the pipeline is a consumer
        group and each running instance of it a consumer sharing its entries; an entry is
        acknowledged once the pipeline's last stage is done with it. The stage's ``maxsize``
        (0: 1,000) bounds the entries an instance holds unacknowledged; an entry another
        instance holds for ``claim_idle_seconds`` without acknowledging it (that instance died)
        is claimed; one tried ``max_deliveries`` times goes to the dead letters
        (``<flow>:<stream>:dead``). Local streams ignore these two.

        Example:
            >>> from weirflow import FlowBuilder
            >>> builder = FlowBuilder()
            >>> _ = builder.add_pipeline("make").with_core_logic(lambda: 7).send("stream", name="n")
            >>> _ = builder.add_pipeline("use").with_stream_connector("n").with_storage(print)
            >>> builder.build().launch_flow(execution_seconds=30)
            7
        """
        label = self._label("stream_connector")
        where = self._where(label)
        name = check_stream_name(name, where, "with_stream_connector(name=...)")
        engine = self._engine(label, "thread", 1, maxsize)
        claim_idle = check_seconds(
            claim_idle_seconds,
            where,
            "with_stream_connector(claim_idle_seconds=...)",
            positive=True,
        )
        deliveries = check_whole(
            max_deliveries, where, "with_stream_connector(max_deliveries=...)", minimum=1
        )
        self._flow._stream_readers.setdefault(name, []).append(self.name)
        lazy: Lazy[Source] = Lazy(
            StreamSource,
            flow_id=self._flow.flow_id,
            name=name,
            reader=self.name,
            claim_idle_seconds=float(claim_idle),
            max_deliveries=deliveries,
            in_flight=engine[2] or IN_FLIGHT,
            adapt_in_flight=not engine[2],
        )
        return self._add(
            StageDef(
                label,
                "source",
                *engine,
                source=lazy,
                continuous=True,
                description=f"stream {name!r}",
            )
        )

    @keywords_checked("source")
    def with_source(self, source: Source, *, maxsize: int = 0) -> PipelineBuilder:
        """Any :class:`~weirflow.Source` object (continuous or once per run).

        Example:
            >>> from weirflow import FlowBuilder
            >>> from weirflow.testing import ListSource
            >>> flow = (FlowBuilder().add_pipeline("p").with_source(ListSource(["x"]))
            ...         .with_storage(print).build())
            >>> flow.launch_flow()
            x
        """
        label = self._label("source")
        if not isinstance(source, Source):
            raise ConfigError(
                f"{self._where(label)}: with_source() expects a weirflow Source, got "
                f"{type(source).__name__} {shown(source)}"
            )
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

    @keywords_checked("core_logic")
    def with_core_logic(
        self,
        function: Callable[..., Any],
        *,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        on_start: Callable[..., Any] | None = None,
        on_done: Callable[..., Any] | None = None,
        retries: int | Retry = 0,
        retry_backoff: float = 0.5,
        ray_options: Mapping[str, Any] | None = None,
    ) -> PipelineBuilder:
        """Your function: returns one item, yields many, or returns None to drop.

        The function takes the previous stage's output as its first parameter (a first stage
        is called once per run without one), and ``db_connectors``, ``pipeline_name`` and its
        ``on_start`` resources by name. ``kind``, ``workers`` and ``maxsize`` are the stage's
        (``kind="process"`` for CPU-heavy work); ``async def`` functions are awaited.

        ``retries``: how many more times an item is tried when the function raises, waiting
        ``retry_backoff`` seconds, doubling each time (or a :class:`~weirflow.Retry`); a
        generator that fails after yielding is not tried again. ``ray_options`` (``kind="ray"``
        only): where each actor goes, e.g. ``{"num_cpus": 0.5}`` (``weirflow.ray``'s options).

        Example:
            >>> from weirflow import FlowBuilder
            >>> def words(line):
            ...     yield from line.split()  # many items from one
            >>> def shout(word, pipeline_name):  # the item, and an injected name
            ...     return None if word == "or" else f"{pipeline_name}: {word.upper()}"
            >>> flow = (FlowBuilder().add_pipeline("words")
            ...         .with_core_logic(lambda: "to be or not")
            ...         .with_core_logic(words)
            ...         .with_core_logic(shout, retries=2, retry_backoff=0.1)
            ...         .send(print).build())
            >>> flow.launch_flow()  # None ("or") is dropped
            words: TO
            words: BE
            words: NOT
        """
        return self._function_stage(
            "core_logic",
            function,
            kind,
            workers,
            maxsize,
            on_start,
            on_done,
            _retry(retries, retry_backoff, self._where(self._peek_label("core_logic"))),
            ray_options,
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
        retry: Retry = NO_RETRY,
        ray_options: Mapping[str, Any] | None = None,
    ) -> PipelineBuilder:
        label = self._label(role)
        where = self._where(label)
        if not callable(function):
            raise ConfigError(
                f"{where}: with_{role}() expected a function, got {type(function).__name__} "
                f"{shown(function)}"
            )
        check_injected_names(function, where)
        call_convention(function, where, resources_possible=on_start is not None)
        return self._add(
            StageDef(
                label,
                role,
                *self._engine(label, kind, workers, maxsize),
                function=function,
                on_start=on_start,
                on_done=on_done,
                description=f"{role.replace('_', ' ')} {_name(function)}",
                retry=retry,
                ray_options=_ray_options(kind, ray_options, where),
            )
        )

    @keywords_checked("storage")
    def with_storage(
        self,
        storage: str | Storage | Callable[..., Any],
        /,
        *,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        ray_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> PipelineBuilder:
        """Save every item: a storage kind, a Storage or a function.

        A kind is a name of :data:`~weirflow._registry.STORAGES`: ``"json"``, ``"jsonl"``,
        ``"csv"``, ``"sql"`` or one added with :func:`~weirflow.register_storage`; its options
        are checked now, with a "did you mean". ``retries`` and ``retry_backoff``: a batch that
        cannot be saved is tried again that many times, with exponential backoff; a kind whose
        factory takes ``retries`` by name (``"sql"``: it retries when the database goes away)
        gets them as its own options, and one taking ``pool_size`` gets one connection per
        worker unless told otherwise.

        Example:
            >>> import os, tempfile
            >>> from weirflow import FlowBuilder
            >>> path = os.path.join(tempfile.mkdtemp(), "squares.jsonl")
            >>> flow = (FlowBuilder().add_pipeline("squares").with_core_logic(lambda: 9)
            ...         .with_storage("jsonl", path=path).build())
            >>> flow.launch_flow()
            >>> flow.storage("squares").load()
            [9]
        """
        label = self._label("storage")
        where = self._where(label)
        engine = self._engine(label, kind, workers, maxsize)
        recipe = None
        if isinstance(storage, str):
            context = f"{where}: with_storage({shown(storage)})"
            recipe = STORAGES.recipe(storage, pipeline=self.name, context=context)
        retry = NO_RETRY
        if recipe is None or not recipe.accepts("retries"):
            retry = _retry(options.pop("retries", 0), options.pop("retry_backoff", 0.5), where)
        check_option_values(options, where, "with_storage")
        if isinstance(storage, Storage):
            lazy: Lazy[Storage] = existing(storage)
            description = type(storage).__name__
        else:
            if recipe is not None:
                if recipe.accepts("pool_size") and "pool_size" not in options:
                    options["pool_size"] = workers  # one connection per worker
                lazy = Lazy(recipe, **options)
                description = f"storage {storage!r}"
            else:
                lazy = Lazy(create_storage, kind=storage, pipeline=self.name, options=options)
                description = _name(storage)
            make_once(lazy, where, self.name)
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
                retry=retry,
                ray_options=_ray_options(kind, ray_options, where),
            )
        )

    @keywords_checked("send")
    def send(
        self,
        sender: str | Sender | Callable[..., Any] | None = None,
        /,
        *,
        kind: str = "thread",
        workers: int = 1,
        maxsize: int = 0,
        ray_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> PipelineBuilder:
        """Deliver every item: a sender kind, ``"stream"``, a Sender or a function.

        A kind is a name of :data:`~weirflow._registry.SENDERS`: ``"http_post"``,
        ``"http_put"``, ``"mqtt"`` or one added with :func:`~weirflow.register_sender`; its
        options are checked now, with a "did you mean". ``send("stream", name=...)`` feeds the
        flow's stream ``name`` (read by ``with_stream_connector(name)``). ``retries`` and
        ``retry_backoff``: an item that cannot be sent is tried again that many times, with
        exponential backoff; a kind whose factory takes ``retries`` by name (the HTTP and MQTT
        senders) gets them as its own options.

        Example:
            >>> from weirflow import FlowBuilder
            >>> flow = (FlowBuilder().add_pipeline("alerts").with_core_logic(lambda: "hot")
            ...         .send(print).build())
            >>> flow.launch_flow()
            hot
        """
        label = self._label("send")
        where = self._where(label)
        recipe = None
        if isinstance(sender, str) and sender != "stream":
            if sender not in SENDERS:
                raise SENDERS.unknown(sender, f"{where}: send({shown(sender)})", ("stream",))
            recipe = SENDERS.recipe(
                sender, pipeline=self.name, context=f"{where}: send({sender!r})"
            )
        retry = NO_RETRY
        if recipe is None or not recipe.accepts("retries"):
            retry = _retry(options.pop("retries", 0), options.pop("retry_backoff", 0.5), where)
        if sender is None:
            raise ConfigError(
                f"{where}: say how to send: send('http_post', destination=...), "
                "send('http_put', ...), send('stream', name=...), a Sender or a function"
            )
        stage_options: dict[str, Any] = {}
        if sender == "stream":
            name = options.pop("name", None)
            stream_maxsize = options.pop("stream_maxsize", None)
            if options:
                raise ConfigError(
                    f"{where}: send('stream') takes only name=<stream name> and "
                    f"stream_maxsize=, got {', '.join(shown(option) for option in options)}"
                    f"{did_you_mean(next(iter(options)), ['name', 'stream_maxsize'])}"
                )
            name = check_stream_name(name, where, "send('stream', name=...)")
            if stream_maxsize is not None:
                stream_maxsize = check_whole(
                    stream_maxsize, where, "send('stream', stream_maxsize=...)", minimum=1
                )
                self._flow._stream_maxsizes[name] = stream_maxsize
            self._engine(label, kind, workers, maxsize)
            self._flow._stream_writers.setdefault(name, []).append(self.name)
            lazy: Lazy[Sender] = Lazy(
                StreamSender,
                flow_id=self._flow.flow_id,
                name=name,
                pipeline=self.name,
                stage=f"{self.name}.{label}",
            )
            description = f"stream {name!r}"
            stage_options["batches"] = True  # one pipelined write per batch
        elif isinstance(sender, Sender):
            lazy = existing(sender)
            description = type(sender).__name__
        else:
            check_option_values(options, where, "send")
            if recipe is not None:
                lazy = Lazy(recipe, **options)
                description = f"send {sender!r}"
            else:
                lazy = Lazy(create_sender, kind=sender, pipeline=self.name, options=options)
                description = _name(sender)
            make_once(lazy, where, self.name)
        return self._add(
            StageDef(
                label,
                "sender",
                *self._engine(label, kind, workers, maxsize),
                sender=lazy,
                description=description,
                retry=retry,
                options=stage_options,
                ray_options=_ray_options(kind, ray_options, where),
            )
        )

    # -- helpers ------------------------------------------------------------------------------

    def build(self) -> Any:
        """Build the whole flow (same as the flow builder's ``build``), so a chain can end here.

        Example:
            >>> from weirflow import FlowBuilder
            >>> flow = FlowBuilder().add_pipeline("once").with_core_logic(lambda: 42).send(print).build()
            >>> flow.launch_flow()
            42
        """  # noqa: E501
        return self._flow.build()

    def _peek_label(self, base: str) -> str:
        count = self._labels.get(base, 0) + 1
        return base if count == 1 else f"{base}_{count}"

    def _label(self, base: str) -> str:
        label = self._next_label(base)
        self._labels[base] = self._labels.get(base, 0) + 1
        return label

    def _next_label(self, base: str) -> str:
        count = self._labels.get(base, 0) + 1
        return base if count == 1 else f"{base}_{count}"

    def _call_where(self, stage: str | None, args: Any, kwargs: Any) -> str:
        """Where a call of ``keywords_checked`` method is: the stage it would add."""
        return self._where(self._next_label(stage)) if stage else f"pipeline {self.name!r}"

    def _where(self, label: str) -> str:
        return f"pipeline {self.name!r}, stage '{self.name}.{label}'"

    def _engine(self, label: str, kind: str, workers: int, maxsize: int) -> tuple[Kind, int, int]:
        where = self._where(label)
        if not isinstance(kind, str) or kind not in KINDS:
            raise ConfigError(
                f"{where}: kind must be one of {', '.join(KINDS)}, got {shown(kind)}"
                f"{did_you_mean(kind, KINDS)}"
            )
        workers = check_whole(workers, where, "workers", minimum=1, maximum=MAX_WORKERS)
        maxsize = check_whole(maxsize, where, "maxsize", note=" (0 = unbounded)")
        return kind, workers, maxsize

    def _add(self, stage: StageDef) -> PipelineBuilder:
        self._stages.append(stage)
        return self

    def _pipeline(self) -> Pipeline:
        stages = tuple(self._stages)
        _check_order(self.name, stages)
        source = stages[0].source if stages else None
        if source is not None and source.factory is StreamSource:
            # a reader that adapts what it holds in flight keeps every worker supplied
            source.options["least_in_flight"] = 2 * sum(stage.workers for stage in stages[1:])
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
            dead_letter=self._dead_letter,
        )


class FlowBuilder:
    """Describes a flow: pipelines, their stages and schedules.

    Args:
        use_threads: run each pipeline in a thread (default) or, with False, in a process of
            its own (same results, same failure behaviour). A bool: ``"false"`` is refused.
        name: the flow's name: Redis keys are prefixed with it, so many services share one
            Redis (default: the stem of the file that makes the builder, else ``"flow"``).
        broker: a ``redis://`` or ``rediss://`` URL: every stream of the flow goes through
            Redis Streams, so its pipelines can run in several processes and machines
            (``weirflow run --pipelines ... --broker URL``; ``--broker`` and the
            ``WEIRFLOW_BROKER`` variable override it). ``None``: streams stay in this process.
        serializer: how items cross the broker: ``"json"`` (datetimes, decimals and bytes
            encoded explicitly) or ``"msgpack"``; never pickle.
        lease_seconds: with a broker, scheduled and once pipelines run in one instance at a
            time; another takes over within this many seconds when its holder dies. Instances
            also heartbeat at a third of it.

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

    @keywords_checked()
    def __init__(
        self,
        use_threads: bool = True,
        *,
        name: str | None = None,
        broker: str | None = None,
        serializer: str = "json",
        lease_seconds: float = 15.0,
    ) -> None:
        self.use_threads = check_flag(use_threads, "FlowBuilder", "use_threads")
        self.flow_id = uuid.uuid4().hex
        self.distribution = check_distribution(
            name if name is not None else default_flow_name(inspect.currentframe()),
            broker,
            serializer,
            lease_seconds,
        )
        self._pipelines: list[PipelineBuilder] = []
        self._storages: dict[str, Lazy[Storage]] = {}
        self._stream_readers: dict[str, list[str]] = {}
        self._stream_writers: dict[str, list[str]] = {}
        self._stream_maxsizes: dict[str, int] = {}

    @property
    def name(self) -> str:
        """The flow's name (the prefix of its Redis keys)."""
        return self.distribution.name

    def _call_where(self, stage: str | None, args: Any, kwargs: Any) -> str:
        """Where a call of a ``keywords_checked`` method is: the pipeline it names."""
        name = args[0] if args else kwargs.get("name")
        if isinstance(name, str) and hasattr(self, "_pipelines"):
            return f"pipeline {shown(name, 110)}"
        return ""

    @keywords_checked()
    def add_pipeline(
        self,
        name: str,
        timedelta_seconds: float | None = None,
        cron: str | None = None,
        delay_seconds: float = 0,
        *,
        timedelta_minutes: float | None = None,
        timezone: str | None = None,
        on_failure: str = "stop",
        max_restarts: int = 5,
        restart_backoff_seconds: float = 1.0,
        dead_letter: DeadLetterTarget | None = None,
    ) -> PipelineBuilder:
        """Start a pipeline: every ``timedelta_seconds``, on ``cron``, or once (or continuously).

        Args:
            name: unique within the flow; it names the pipeline's storage, logs and errors
                (at most 100 characters, no control characters).
            timedelta_seconds: run every so many seconds (> 0, at most ten years); or
                ``timedelta_minutes``.
            cron: run on a cron expression, read in ``timezone``: five fields ``minute hour
                day-of-month month day-of-week``; a sixth field for the **seconds, at the end**
                (``"*/5 * * * * 30"``: every five minutes at second 30; Quartz puts them first,
                weirflow does not); a seventh for the year; or ``@hourly``, ``@daily``... An
                expression that never fires (``"0 0 31 2 *"``) is refused.
            delay_seconds: wait this long before the first run (>= 0, at most ten years).
            timezone: the IANA zone a ``cron`` is read in (``"Europe/Paris"``); UTC if not
                given. Only for ``cron``.
            on_failure: ``"stop"`` (the flow stops and ``launch_flow`` raises), ``"restart"``
                (exponential back-off from ``restart_backoff_seconds``, at most
                ``max_restarts`` times in a row) or ``"continue"``: a continuous pipeline (or
                one with a ``dead_letter``) then goes on past a failing item, which is logged
                and counted while every other item goes on.
            dead_letter: where items that failed under ``"continue"`` are kept, as records
                (pipeline, stage, error, the item, time, attempts): a path (a JSON-lines file),
                a :class:`~weirflow.Storage` or a function taking the record. An at-least-once
                item is acknowledged once it is kept there; without ``dead_letter`` it stays
                unacknowledged, so the source sends it again.

        Without a schedule the pipeline runs once (or, with a continuous source such as MQTT
        or a stream, for as long as the flow). Every number must be finite; a wrong or misspelt
        argument is a :class:`~weirflow.ConfigError` naming the pipeline and the field.

        Example:
            >>> from weirflow import FlowBuilder
            >>> builder = FlowBuilder()
            >>> _ = builder.add_pipeline("hourly", cron="0 * * * *", timezone="Europe/Paris") \\
            ...     .with_core_logic(print)
            >>> _ = builder.add_pipeline("ticks", timedelta_seconds=0.5, delay_seconds=1,
            ...                          on_failure="restart").with_core_logic(lambda: "tick")
            >>> print(builder.build().describe())
            flow with 2 pipeline(s), run in threads
            pipeline 'hourly': cron '0 * * * *' in Europe/Paris, on_failure=stop
              hourly.core_logic: core logic print [thread, workers=1, maxsize=0]
            pipeline 'ticks': every 0.5s after 1s, on_failure=restart
              ticks.core_logic: core logic <lambda> [thread, workers=1, maxsize=0]
            >>> builder.add_pipeline("ticks")
            Traceback (most recent call last):
            ...
            weirflow.ConfigError: pipeline 'ticks' is defined twice; pipeline names must be unique (they name storages, logs and errors): give the second one another name
        """  # noqa: E501
        check_pipeline_name(name)
        if any(pipeline.name == name for pipeline in self._pipelines):
            raise ConfigError(
                f"pipeline {name!r} is defined twice; pipeline names must be unique (they name "
                "storages, logs and errors): give the second one another name"
            )
        where = f"pipeline {name!r}"
        schedule = schedule_of(
            where, timedelta_seconds, timedelta_minutes, cron, timezone, delay_seconds
        )
        if on_failure not in POLICIES:
            raise ConfigError(
                f"{where}: add_pipeline(on_failure=...) must be one of {', '.join(POLICIES)}, "
                f"got {shown(on_failure)}{did_you_mean(on_failure, POLICIES)}"
            )
        max_restarts = check_whole(max_restarts, where, "add_pipeline(max_restarts=...)")
        restart_backoff_seconds = check_seconds(
            restart_backoff_seconds, where, "add_pipeline(restart_backoff_seconds=...)"
        )
        pipeline = PipelineBuilder(
            self,
            name,
            schedule,
            on_failure,
            max_restarts,
            float(restart_backoff_seconds),
            dead_letters(dead_letter, name),
        )
        self._pipelines.append(pipeline)
        return pipeline

    def build(self) -> Any:
        """Check everything and return the :class:`~weirflow.flows.Flow`.

        Every pipeline's stage order, every stream (read by one pipeline, written by at least
        one) and every pipeline's schedule against its source; each mistake a
        :class:`~weirflow.ConfigError` saying what to add or change. A builder can be built
        again after a fix; the flows built from one builder are one flow.

        Example:
            >>> from weirflow import FlowBuilder
            >>> builder = FlowBuilder()
            >>> _ = builder.add_pipeline("make").with_core_logic(lambda: 1).send("stream", name="jobs")
            >>> builder.build()
            Traceback (most recent call last):
            ...
            weirflow.ConfigError: pipeline 'make' sends to stream 'jobs', but no pipeline reads it; add .with_stream_connector('jobs') to a pipeline
            >>> _ = builder.add_pipeline("use").with_stream_connector("jobs").send(print)
            >>> [pipeline.name for pipeline in builder.build().pipelines]
            ['make', 'use']
        """  # noqa: E501
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
            if len(set(readers)) < len(readers):
                raise ConfigError(
                    f"pipeline {readers[0]!r} reads stream {name!r} twice; read it once"
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
            topology=StreamTopology.of(
                self._stream_writers, self._stream_readers, self._stream_maxsizes
            ),
            distribution=self.distribution,
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


def _ray_options(kind: str, options: Any, where: str) -> dict[str, Any]:
    """``ray_options=``: checked by a back end that takes options, refused by the others."""
    check = getattr(get_executor_class(kind), "check_options", None) if kind in KINDS else None
    if check is None:
        if options is not None:
            raise ConfigError(f"{where}: ray_options= is for kind='ray' stages, not {kind!r}")
        return {}
    checked: dict[str, Any] = check({} if options is None else options, where)
    return checked


def _retry(retries: Any, retry_backoff: Any, where: str) -> Retry:
    """``retries=`` (a number of retries, or a :class:`~weirflow.Retry`) and ``retry_backoff=``."""
    if isinstance(retries, Retry):
        return retries
    return Retry.from_options(retries, retry_backoff, where)


IN_FLIGHT = 1000
"""Entries a stream-reading instance holds unacknowledged when its stage's maxsize is 0."""

_STAGE_OWN = frozenset({"self", "kind", "workers", "maxsize"})
"""A named connector method's parameters that are the stage's, not the connector's."""


def _mqtt_options(source_class: Callable[..., Any]) -> list[str]:
    """The options ``with_mqtt_connector(**options)`` passes on to the MQTT source."""
    own = ("self", "source", "port", "topic", "qos", "maxsize", "pipeline")
    return [name for name in inspect.signature(source_class).parameters if name not in own]


def _name(function: Any) -> str:
    return str(getattr(function, "__name__", None) or type(function).__name__)
