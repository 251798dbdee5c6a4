"""The HTTP polling connector: :class:`HttpSource` requests a URL once per pipeline run.

``with_http_connector`` makes one; each run it plans the request (the configured one,
adjusted by what a configuration stage produced), sends it through the shared
:class:`~._requester.Requester` (retries, TLS, bounded answers, masked credentials) and yields
the decoded body: JSON, text or bytes. Its options are checked when it is made, so mistakes
surface at build time as :class:`~weirflow.ConfigError` naming the pipeline and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from ..._await import run_awaitable
from ..._errors import HttpDecodeError, InvalidArgumentError
from ..._redact import redact_text, redact_url
from ..._retry import Retry
from ..._runtime._inject import Signature, signature_of
from ...abc import Source
from ._failures import request_secrets
from ._options import (
    DECODES,
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    Cert,
    Site,
    Verify,
    check_headers,
    check_method,
    check_url,
)
from ._requester import MAX_BODY_BYTES, requester_from

__all__ = ["HttpSource"]


class HttpSource(Source):
    """Requests a URL once per pipeline run and yields the decoded body.

    A configuration stage before the connector may produce a dict that adjusts the request of
    its run: ``url``, ``method``, ``json`` and ``data`` replace the configured ones, ``params``
    and ``headers`` are merged over them key by key, and any other key goes into the query
    string for GET and DELETE, into the body (a JSON object, or form ``data`` if that is what
    the request sends) otherwise. When ``source`` is a function it is called with the
    parameters it names (or all of them if it takes ``**kwargs``) and returns the URL; the
    parameters it names are not sent again.

    A 204 answer yields nothing. Requests are retried as :class:`Requester` says; after the
    retries an :class:`HttpRequestError` names the pipeline, the method and the URL with its
    credentials masked.

    Args:
        source: the URL, or a function returning it.
        method: GET, POST, PUT, PATCH or DELETE.
        headers: sent with every request (values of secret headers never appear in logs).
        params: the query string.
        json: a JSON body.
        data: a form body (a dict) or a raw body (str or bytes).
        timeout, retries, backoff, verify, cert, client: see :class:`Requester`
            (``retries=2, backoff=0.5`` by default: waits of 0.5 s then 1 s, doubling up to
            30 s; or ``retries=weirflow.Retry(attempts=3, backoff=0.5, cap=10)``).
        max_body_bytes: the longest body (decoded) an answer may have; default 100 MiB.
        deadline_seconds: the longest the whole request may take, retries included; default
            ``5 * timeout``.
        redact: more query parameter, header or form field names, and path templates
            (``"/hooks/*"``: ``*`` marks the secret part) to mask in logs, errors and
            ``repr()``, e.g. ``redact=["city", "/v1/*/data"]``. Names containing ``key``,
            ``token``, ``secret``, ``pass``, ``auth``, ``session``... are masked anyway.
        decode: "json" (the parsed body), "text" or "bytes".
        pipeline: the pipeline's name, shown in errors and log lines.
        configuration: ``"get"`` or ``"post"``, the method under its wiredflow name.

    Example:
        >>> from weirflow.testing import LocalHTTPServer
        >>> with LocalHTTPServer() as server:
        ...     server.route("GET", "/numbers", {"value": 42})
        ...     source = HttpSource(f"{server.url}/numbers", headers={"apikey": "k3y"})
        ...     items = list(source.read({"limit": 1}))
        ...     source.close()
        ...     request = server.requests[0]
        >>> items
        [{'value': 42}]
        >>> request.query, request.headers["apikey"]
        ({'limit': '1'}, 'k3y')
    """

    def __init__(
        self,
        source: str | Callable[..., str],
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        timeout: float = 10.0,
        retries: int | Retry = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        verify: Verify = True,
        cert: Cert | None = None,
        decode: str = "json",
        pipeline: str = "?",
        client: httpx.Client | None = None,
        configuration: str | None = None,
        max_body_bytes: int | None = MAX_BODY_BYTES,
        deadline_seconds: float | None = None,
        redact: Any = None,
    ) -> None:
        site = Site(pipeline)
        if configuration is not None:
            if not isinstance(configuration, str) or configuration.lower() not in ("get", "post"):
                raise InvalidArgumentError(
                    f"{site.field('configuration')}: give 'get' or 'post' (or use method=...), "
                    f"got {configuration!r}"
                )
            method = check_method(method, site)  # a non-string method is a ConfigError too
            if method not in ("GET", configuration.upper()):
                raise InvalidArgumentError(
                    f"{site.field('configuration')}: configuration={configuration!r} and "
                    f"method={method!r} disagree; give only method=..."
                )
            method = configuration
        self.method = check_method(method, site)
        self._function: Callable[..., str] | None = None
        self._signature: Signature | None = None
        if callable(source):
            self._function = source
            self._signature = signature_of(source, skip_first=False)
        else:
            check_url(source, site, "source")
        self.source = source
        self.headers = check_headers(headers, site)
        if params is not None and not isinstance(params, Mapping):
            raise InvalidArgumentError(
                f"{site.field('params')}: give a dict of query parameters, "
                f"got {type(params).__name__}"
            )
        self.params = dict(params or {})
        if json is not None and data is not None:
            raise InvalidArgumentError(
                f"{site.field('data')}: give a body as json=... or as data=..., not both"
            )
        self.json = json
        self.data = data
        if decode not in DECODES:
            raise InvalidArgumentError(
                f"{site.field('decode')}: give one of {', '.join(DECODES)}, got {decode!r}"
            )
        self.decode = decode
        self.pipeline = pipeline
        self._site = site
        self._http = requester_from(site, locals())

    def read(self, parameters: Mapping[str, Any]) -> Iterable[Any]:
        """Make this run's request; return ``[body]`` (``[]`` for a 204 answer)."""
        method, url, options = self._plan(dict(parameters or {}))
        response = self._http.request(method, url, **options)
        if response.status_code == 204:
            return []
        return [self._decoded(response, method)]

    def _plan(self, given: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        site = self._site.at_run_time()
        method = check_method(given.pop("method", self.method), site)
        params = {**self.params, **_mapping(given.pop("params", None), site, "params")}
        headers = {**self.headers, **_mapping(given.pop("headers", None), site, "headers")}
        json, data = self.json, self.data
        if "json" in given:
            json, data = given.pop("json"), None
        if "data" in given:
            json, data = None, given.pop("data")
        url = given.pop("url", None)
        if url is None:
            url = self._url(given)
        check_url(url, site, "url")
        if given:  # the rest goes to the query string, or into the body
            if method in ("GET", "DELETE"):
                params = {**params, **given}
            elif isinstance(data, Mapping):
                data = {**data, **given}
            elif json is None and data is None:
                json = given
            elif isinstance(json, Mapping):
                json = {**json, **given}
            else:
                raise TypeError(
                    f"{site}: cannot add the parameters {', '.join(sorted(given))} to a "
                    f"{method} body that is not a JSON object ({type(json or data).__name__})"
                )
        options = {"params": params, "headers": headers, "json": json, "data": data}
        return method, url, options

    def _url(self, given: dict[str, Any]) -> str:
        """The configured URL, or the source function's answer for these parameters."""
        if self._function is None:
            assert isinstance(self.source, str)
            return self.source
        assert self._signature is not None
        missing = [name for name in self._signature.required if name not in given]
        if missing:
            raise TypeError(
                f"{self._site}: the source function {_name(self._function)} needs "
                f"{', '.join(missing)}, but the configuration gave "
                f"{', '.join(sorted(given)) or 'nothing'}"
            )
        url = run_awaitable(self._function(**self._signature.select(given)))  # async: awaited
        for name in self._signature.names:  # what the function named is not sent again
            given.pop(name, None)
        if not isinstance(url, str):
            raise TypeError(
                f"{self._site}: the source function {_name(self._function)} must return the "
                f"URL as a string, got {type(url).__name__}"
            )
        return url

    def _decoded(self, response: httpx.Response, method: str) -> Any:
        if self.decode == "bytes":
            return response.content
        if self.decode == "text":
            return response.text
        shown = redact_url(str(response.request.url), self._http.rules)
        try:
            return response.json()
        except RecursionError:
            raise HttpDecodeError(
                f"{self._site}: {method} {shown} answered {response.status_code} with JSON "
                "nested too deeply to decode (deeper than Python's recursion limit); use "
                "decode='text' or decode='bytes' to take the body as it is",
                self.pipeline,
                method,
                shown,
                response.status_code,
            ) from None
        except ValueError as error:
            snippet = redact_text(
                response.text[:80], request_secrets(response.request, self._http.rules)
            )
            kind = response.headers.get("content-type", "none")
            raise HttpDecodeError(
                f"{self._site}: {method} {shown} answered {response.status_code} with a body "
                f"that is not JSON (content-type {kind}): {snippet!r}; use decode='text' or "
                "decode='bytes' to take the body as it is",
                self.pipeline,
                method,
                shown,
                response.status_code,
            ) from error

    def close(self) -> None:
        """Close the HTTP client (not one given as ``client=``)."""
        self._http.close()

    def __repr__(self) -> str:
        where = (
            _name(self.source) if self._function else redact_url(str(self.source), self._http.rules)
        )
        return f"HttpSource({where!r}, method={self.method!r}, pipeline={self.pipeline!r})"


def _mapping(value: Any, site: Site, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{site}: the configuration's {key!r} must be a dict, got {type(value).__name__}"
        )
    return dict(value)


def _name(function: Any) -> str:
    return str(getattr(function, "__qualname__", None) or repr(function))
