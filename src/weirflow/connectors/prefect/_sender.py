"""``send("prefect_deployment")``: :class:`PrefectDeploymentSender` creates a flow run per item.

It speaks the Prefect 3 REST API (the one Prefect's own client uses, for a Prefect server and
Prefect Cloud alike): it finds the deployment by name once (``GET
/deployments/name/{flow}/{deployment}``), then for each item ``POST
/deployments/{id}/create_flow_run`` with the item's parameters and an ``idempotency_key``
derived from the item: Prefect answers an item delivered again with the flow run it already
made, so nothing runs twice. Requests go through the HTTP connector's :class:`Requester`
(retries, TLS options, bounded answers); the API key never appears in a log line, an error
or ``repr()``. Prefect itself need not be installed where the service runs.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from urllib.parse import quote

from ..._errors import InvalidArgumentError
from ..._hints import shown
from ..._redact import redact_url
from ..._retry import Retry
from ...abc import Sender
from .._triggers import (
    Picker,
    answer_text,
    answered_without,
    bearer,
    check_picker,
    item_key,
    object_from,
)
from ..http._options import DEFAULT_BACKOFF, DEFAULT_RETRIES, Cert, Site, Verify, check_url
from ..http._requester import requester_from

__all__ = ["PrefectDeploymentSender"]

logger = logging.getLogger("weirflow.prefect")


class PrefectDeploymentSender(Sender):
    """Creates a flow run of the Prefect deployment ``name`` for each item, once.

    Args:
        name: the deployment, as Prefect names it: ``"flow-name/deployment-name"``.
        parameters_from: what becomes the flow run's parameters: ``None`` (the whole item, a
            dict), a key of the item, or a function of the item; it must give a dict that
            JSON can carry.
        key_from: what becomes the ``idempotency_key``: ``None`` (``"weirflow__"`` and a
            hash of the deployment and the item: equal items, equal keys), a key of the item
            or a function of the item.
        api_url: the Prefect API, e.g. ``"http://127.0.0.1:4200/api"``; by default the
            ``PREFECT_API_URL`` environment variable (as Prefect's client reads it).
        api_key: a Prefect Cloud API key; by default ``PREFECT_API_KEY`` if set, else none.
        tags: tags given to each flow run.
        timeout, retries, backoff, verify, cert, deadline_seconds, redact: as for
            ``send("http_post")`` (see :class:`weirflow.connectors.http.Requester`).
        pipeline: the pipeline's name, shown in errors and log lines.

    Raises:
        ConfigError: a bad option, or no API URL, at construction.

    Example:
        >>> from weirflow.testing import LocalHTTPServer
        >>> with LocalHTTPServer() as prefect:
        ...     prefect.route("GET", "/api/deployments/name/report/daily", {"id": "d-1"})
        ...     prefect.route("POST", "/api/deployments/d-1/create_flow_run", (201, {"id": "r"}))
        ...     sender = PrefectDeploymentSender(
        ...         "report/daily", parameters_from="params", api_url=f"{prefect.url}/api")
        ...     sender.send({"params": {"day": "2030-01-01"}})
        ...     sender.close()
        ...     body = prefect.requests[1].json
        >>> body["parameters"], body["idempotency_key"]
        ({'day': '2030-01-01'}, 'weirflow__fcdeb5ec157d84a3164fbdb977f7f1bb')
    """

    _unpicklable = ("_lock",)

    def __init__(
        self,
        name: str | None = None,
        *,
        parameters_from: Picker = None,
        key_from: Picker = None,
        api_url: str | None = None,
        api_key: str | None = None,
        tags: list[str] | tuple[str, ...] = (),
        timeout: float = 10.0,
        retries: int | Retry = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        verify: Verify = True,
        cert: Cert | None = None,
        deadline_seconds: float | None = None,
        redact: Any = None,
        pipeline: str = "?",
    ) -> None:
        site = Site(pipeline, "send('prefect_deployment', {name}=...)")
        where = f"pipeline {pipeline!r}: send('prefect_deployment')"
        flow, _, deployment = name.partition("/") if isinstance(name, str) else ("", "", "")
        if not flow or not deployment or "/" in deployment:
            raise InvalidArgumentError(
                f"{where}: name must be 'flow-name/deployment-name', got {shown(name)}"
            )
        self.name = str(name)
        self.parameters_from = check_picker(parameters_from, where, "parameters_from")
        self.key_from = check_picker(key_from, where, "key_from")
        api_url = api_url if api_url is not None else os.environ.get("PREFECT_API_URL")
        if api_url is None:
            raise InvalidArgumentError(
                f"{where} needs the Prefect API: give api_url='http://host:4200/api' or set "
                "PREFECT_API_URL"
            )
        self.api_url = check_url(api_url, site, "api_url").rstrip("/")
        api_key = api_key if api_key is not None else os.environ.get("PREFECT_API_KEY")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise InvalidArgumentError(f"{site.field('api_key')}: give the key as a string")
        self._api_key = api_key
        if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
            raise InvalidArgumentError(f"{site.field('tags')}: give a list of texts")
        self.tags = list(tags)
        self.pipeline = pipeline
        self._where = where
        self._http = requester_from(site, locals())
        self._deployment_id: str | None = None
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()

    def send(self, item: Any) -> None:
        """Create the flow run of ``item`` (made already, from an earlier delivery: fine).

        Raises:
            PayloadError: ``parameters_from`` or ``key_from`` cannot take what they need from
                the item, or the parameters are not JSON.
            HttpRequestError: Prefect refused (after the retries for 5xx and connection
                errors), e.g. 404 for a deployment that does not exist.
        """
        where, pipeline = self._where, self.pipeline
        body: dict[str, Any] = {
            "parameters": object_from(
                item, self.parameters_from, where, "parameters_from", pipeline
            ),
            "idempotency_key": item_key(
                item, self.key_from, "weirflow", self.name, where, "key_from", pipeline
            ),
        }
        if self.tags:
            body["tags"] = self.tags
        target = f"{self.api_url}/deployments/{self._deployment()}/create_flow_run"
        answer = self._http.request("POST", target, headers=self._headers(), json=body)
        if answer.status_code == 200:  # Prefect's answer for a key it has seen
            logger.info(
                "%s: the flow run for idempotency key %r exists already (an earlier delivery)",
                where,
                body["idempotency_key"],
                extra={"pipeline": pipeline, "stage": None},
            )

    def _deployment(self) -> str:
        """The deployment's id, asked for once."""
        with self._lock:
            if self._deployment_id is None:
                flow, _, deployment = self.name.partition("/")
                path = f"{quote(flow, safe='')}/{quote(deployment, safe='')}"
                answer = self._http.request(
                    "GET", f"{self.api_url}/deployments/name/{path}", headers=self._headers()
                )
                found = answer_text(answer, "id")
                if found is None:
                    raise answered_without(
                        self._where,
                        self.pipeline,
                        "GET",
                        f"{redact_url(self.api_url)}/deployments/name/{path}",
                        "a deployment id",
                        "check api_url (the Prefect API, ending in /api)",
                        answer,
                    )
                self._deployment_id = found
            return self._deployment_id

    def _headers(self) -> dict[str, str]:
        return bearer(self._api_key)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def __repr__(self) -> str:
        return (
            f"PrefectDeploymentSender({self.name!r}, "
            f"api_url={redact_url(self.api_url, self._http.rules)!r}, pipeline={self.pipeline!r})"
        )
