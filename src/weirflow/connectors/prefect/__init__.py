"""Prefect: create flow runs of deployments from a pipeline, idempotently.

No extra to install where the service runs: it speaks the Prefect 3 REST API over httpx (a
dependency of weirflow). What lives here:

- :class:`PrefectDeploymentSender` (``_sender.py``), behind ``send("prefect_deployment",
  name="flow/deployment", parameters_from=...)``: one flow run per item, with an idempotency
  key derived from the item, so a redelivered item creates nothing new.

Running weirflow *inside* a Prefect task is :func:`weirflow.run_flow`. Errors are those of the
HTTP connector (:class:`~weirflow.HttpRequestError`) and :class:`~weirflow.PayloadError`.

Example:
    >>> from weirflow.connectors.prefect import PrefectDeploymentSender
    >>> PrefectDeploymentSender("report/daily", api_url="http://127.0.0.1:4200/api")
    PrefectDeploymentSender('report/daily', api_url='http://127.0.0.1:4200/api', pipeline='?')
"""

from __future__ import annotations

from ._sender import PrefectDeploymentSender as PrefectDeploymentSender

__all__ = ["PrefectDeploymentSender"]
