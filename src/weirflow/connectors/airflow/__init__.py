"""Apache Airflow: trigger DAG runs from a pipeline, idempotently.

No extra to install: it speaks Airflow 3's stable REST API over httpx (a dependency of
weirflow). What lives here:

- :class:`AirflowDagRunSender` (``_sender.py``), behind ``send("airflow_dag_run", url=...,
  dag_id=..., conf_from=..., auth=...)``: one DAG run per item, its ``dag_run_id`` derived
  from the item, so a redelivered item triggers nothing new (409 counts as done).

Running weirflow *inside* an Airflow task is :func:`weirflow.run_flow`. Errors are those of the
HTTP connector (:class:`~weirflow.HttpRequestError`) and :class:`~weirflow.PayloadError`.

Example:
    >>> from weirflow.connectors.airflow import AirflowDagRunSender
    >>> AirflowDagRunSender("https://airflow.example.com", dag_id="report", auth=("u", "pw"))
    AirflowDagRunSender('https://airflow.example.com', dag_id='report', pipeline='?')
"""

from __future__ import annotations

from ._sender import AirflowDagRunSender as AirflowDagRunSender

__all__ = ["AirflowDagRunSender"]
