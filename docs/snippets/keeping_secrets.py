"""Secrets: keep them out of the service file, and out of every log line, error and check.

The API key comes from the environment (a systemd ``EnvironmentFile``, a Kubernetes Secret...);
weirflow masks it wherever it shows a request: ``weirflow check``, log lines, errors.

    PRICES_API_KEY=... python keeping_secrets.py
"""

from __future__ import annotations

import io
import logging
import os
import shutil
from typing import Any

from weirflow import FlowBuilder
from weirflow.testing import LocalHTTPServer


# --8<-- [start:flow]
def build_flow(base_url: str) -> Any:
    api_key = os.environ["PRICES_API_KEY"]  # never written in the file itself
    builder = FlowBuilder()
    (
        builder.add_pipeline("prices", on_failure="continue")
        .with_http_connector(
            f"{base_url}/prices?token={api_key}&city=Oslo",  # query names like *token*: masked
            headers={"apikey": api_key},  # so are headers named like *key*, *auth*, *secret*...
            redact=["city"],  # ...and what you add: names, or path templates ("/hooks/*")
            retries=1,
            backoff=0.05,
        )
        .with_storage("jsonl", path="data/secrets/prices.jsonl")
    )
    return builder.build()


# --8<-- [end:flow]


def main() -> None:
    shutil.rmtree("data/secrets", ignore_errors=True)
    os.environ.setdefault("PRICES_API_KEY", "sk-live-4f9a2c")
    secret = os.environ["PRICES_API_KEY"]
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    for name in ("weirflow", "httpx", "httpcore"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.DEBUG)
    with LocalHTTPServer() as server:
        server.route("GET", "/prices", {"usd": 100.0}, statuses=[503, 503])  # fails, logged
        flow = build_flow(server.url)
        description = flow.describe()
        flow.launch_flow()
        received = server.requests[0]
    print(description)
    assert received.headers["apikey"] == secret  # the server got the key...
    assert secret not in description  # ...but weirflow check shows it masked
    assert secret not in logs.getvalue()  # ...and so do the logs, debug included
    assert "Oslo" not in logs.getvalue()
    assert "failed (503 Service Unavailable)" in logs.getvalue()


if __name__ == "__main__":
    main()
