"""``send("airflow_dag_run")``: :class:`AirflowDagRunSender` triggers a DAG run per item.

It speaks Airflow 3's stable REST API: with ``auth=(username, password)`` it first asks
``POST /auth/token`` for an access token (kept, and asked again once when a request is refused
with 401), then ``POST /api/v2/dags/{dag_id}/dagRuns`` with a ``dag_run_id`` derived from the
item, so an item delivered again triggers nothing new: Airflow answers 409 (that run exists),
which counts as done. Requests go through the HTTP connector's :class:`Requester` (retries on
connection errors, timeouts and 5xx; TLS options; bounded answers); the password and the
token never appear in a log line, an error or ``repr()``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote

from ..._errors import HttpRequestError, InvalidArgumentError
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

__all__ = ["AirflowDagRunSender"]

logger = logging.getLogger("weirflow.airflow")

Auth = tuple[str, str] | str | None
"""``(username, password)`` (a token is asked for), an access token, or ``None``."""


class AirflowDagRunSender(Sender):
    """Triggers a run of DAG ``dag_id`` on the Airflow at ``url`` for each item, once.

    Args:
        url: the Airflow API server, e.g. ``"https://airflow.example.com"`` (the part
            before ``/api/v2``).
        dag_id: the DAG to trigger.
        conf_from: what becomes the run's ``conf``: ``None`` (the whole item, a dict), a key
            of the item, or a function of the item; it must give a dict that JSON can carry.
        run_id_from: what becomes the ``dag_run_id``: ``None`` (``"weirflow__"`` and a hash
            of the DAG id and the item: equal items, equal ids), a key of the item, or a
            function of the item (1 to 200 letters, digits and ``_.~:+-``).
        auth: ``(username, password)``: a token is asked for at ``/auth/token``; a string:
            the access token itself; ``None``: no authentication (an API server that needs
            none).
        note: a note shown on each triggered run in Airflow's UI.
        timeout, retries, backoff, verify, cert, deadline_seconds, redact: as for
            ``send("http_post")`` (see :class:`weirflow.connectors.http.Requester`).
        pipeline: the pipeline's name, shown in errors and log lines.

    Raises:
        ConfigError: a bad option, at construction.

    Example:
        >>> from weirflow.testing import LocalHTTPServer
        >>> with LocalHTTPServer() as airflow:
        ...     airflow.route("POST", "/auth/token", (201, {"access_token": "t0ken"}))
        ...     airflow.route("POST", "/api/v2/dags/report/dagRuns", (200, {"state": "queued"}))
        ...     sender = AirflowDagRunSender(
        ...         airflow.url, dag_id="report", conf_from="conf", auth=("ops", "s3cret"))
        ...     sender.send({"conf": {"day": "2030-01-01"}})
        ...     sender.close()
        ...     body = airflow.requests[1].json
        >>> body["conf"], body["dag_run_id"], body["logical_date"]
        ({'day': '2030-01-01'}, 'weirflow__7190dbb57b597f3a890dbf2d00a175d5', None)
        >>> airflow.requests[1].headers["authorization"]
        'Bearer t0ken'
    """

    _unpicklable = ("_token_lock",)

    def __init__(
        self,
        url: str | None = None,
        dag_id: str | None = None,
        *,
        conf_from: Picker = None,
        run_id_from: Picker = None,
        auth: Auth = None,
        note: str | None = None,
        timeout: float = 10.0,
        retries: int | Retry = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        verify: Verify = True,
        cert: Cert | None = None,
        deadline_seconds: float | None = None,
        redact: Any = None,
        pipeline: str = "?",
    ) -> None:
        site = Site(pipeline, "send('airflow_dag_run', {name}=...)")
        where = f"pipeline {pipeline!r}: send('airflow_dag_run')"
        if url is None or dag_id is None:
            raise InvalidArgumentError(
                f"{where} needs url='https://airflow-host' and dag_id='the_dag'"
            )
        self.url = check_url(url, site, "url").rstrip("/")
        if not isinstance(dag_id, str) or not dag_id:
            raise InvalidArgumentError(
                f"{site.field('dag_id')}: give the DAG id, got {shown(dag_id)}"
            )
        self.dag_id = dag_id
        self.conf_from = check_picker(conf_from, where, "conf_from")
        self.run_id_from = check_picker(run_id_from, where, "run_id_from")
        self._auth = _check_auth(auth, site)
        if note is not None and not isinstance(note, str):
            raise InvalidArgumentError(f"{site.field('note')}: give a text, got {shown(note)}")
        self.note = note
        self.pipeline = pipeline
        self._where = where
        self._http = requester_from(site, locals())
        self._token: str | None = auth if isinstance(auth, str) else None
        self._reset()

    def _reset(self) -> None:
        self._token_lock = threading.Lock()

    def send(self, item: Any) -> None:
        """Trigger the DAG run of ``item`` (done already, from an earlier delivery: fine).

        Raises:
            PayloadError: ``conf_from`` or ``run_id_from`` cannot take what they need from
                the item, or the conf is not JSON.
            HttpRequestError: Airflow refused (after the retries for 5xx and connection
                errors), or the token could not be had.
        """
        where, pipeline = self._where, self.pipeline
        body: dict[str, Any] = {
            "dag_run_id": item_key(
                item, self.run_id_from, "weirflow", self.dag_id, where, "run_id_from", pipeline
            ),
            "logical_date": None,  # Airflow 3: a run not tied to a data interval
            "conf": object_from(item, self.conf_from, where, "conf_from", pipeline),
        }
        if self.note is not None:
            body["note"] = self.note
        target = f"{self.url}/api/v2/dags/{quote(self.dag_id, safe='')}/dagRuns"
        try:
            self._post_authorized(target, body)
        except HttpRequestError as error:
            if error.status_code != 409:
                raise
            logger.info(
                "%s: DAG run %r of %r exists already (triggered by an earlier delivery)",
                where,
                body["dag_run_id"],
                self.dag_id,
                extra={"pipeline": pipeline, "stage": None},
            )

    def _post_authorized(self, target: str, body: dict[str, Any]) -> None:
        """POST with the token; a 401 (an expired token) asks for a new one, once."""
        token = self._current_token(renew=False)
        try:
            self._http.request("POST", target, headers=bearer(token), json=body, need_body=False)
        except HttpRequestError as error:
            if error.status_code != 401 or not isinstance(self._auth, tuple):
                raise
            token = self._current_token(renew=True, stale=token)
            self._http.request("POST", target, headers=bearer(token), json=body, need_body=False)

    def _current_token(self, renew: bool, stale: str | None = None) -> str | None:
        if not isinstance(self._auth, tuple):
            return self._token
        with self._token_lock:
            if self._token is None or (renew and self._token == stale):
                self._token = self._fetch_token(*self._auth)
            return self._token

    def _fetch_token(self, username: str, password: str) -> str:
        answer = self._http.request(
            "POST",
            f"{self.url}/auth/token",
            json={"username": username, "password": password},
            secrets=(password,),
        )
        token = answer_text(answer, "access_token")
        if token is None:
            raise answered_without(
                self._where,
                self.pipeline,
                "POST",
                f"{redact_url(self.url)}/auth/token",
                "an access_token",
                "check url (the Airflow API server) and auth",
                answer,
            )
        return token

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if isinstance(self._auth, tuple):
            state["_token"] = None  # a copy asks for its own
        return state

    def __repr__(self) -> str:
        return (
            f"AirflowDagRunSender({redact_url(self.url, self._http.rules)!r}, "
            f"dag_id={self.dag_id!r}, pipeline={self.pipeline!r})"
        )


def _check_auth(auth: Any, site: Site) -> Auth:
    if auth is None or (isinstance(auth, str) and auth):
        return auth
    if (
        isinstance(auth, tuple)
        and len(auth) == 2
        and all(isinstance(part, str) and part for part in auth)
    ):
        return (auth[0], auth[1])
    raise InvalidArgumentError(
        f"{site.field('auth')}: give (username, password), an access token (a string) or "
        f"None, got a {type(auth).__name__}"  # never the value: it may hold a password
    )
