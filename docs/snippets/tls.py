"""TLS: check the server against your own CA, and show a client certificate.

A local HTTPS server with a self-signed certificate (made with the ``openssl`` command) stands in
for a server of your company's CA; it asks for a client certificate too (mutual TLS).

    python tls.py
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

from weirflow import FlowBuilder, HttpRequestError, PipelineFailed
from weirflow.testing import LocalHTTPServer

CERTS = Path("data") / "tls"


# --8<-- [start:flow]
def add_https_readings(builder: FlowBuilder, base_url: str, certs: Path) -> None:
    (
        builder.add_pipeline("secure")
        .with_http_connector(
            f"{base_url}/readings",
            verify=str(certs / "ca.pem"),  # True (the system's CAs, the default), False, a file
            cert=(str(certs / "client.pem"), str(certs / "client-key.pem")),  # mutual TLS
        )
        .with_storage("jsonl", path="data/tls/readings.jsonl")
    )


def add_tls_subscription(builder: FlowBuilder, broker: str, certs: Path) -> None:
    (
        builder.add_pipeline("sensors")
        .with_mqtt_connector(
            broker,
            port=8883,
            topic="sensors/#",
            tls={  # or True: the system's CAs; "insecure": True skips the host name check only
                "ca_certs": str(certs / "ca.pem"),
                "certfile": str(certs / "client.pem"),
                "keyfile": str(certs / "client-key.pem"),
            },
        )
        .with_storage("jsonl", path="data/tls/sensors.jsonl")
    )


# --8<-- [end:flow]


def self_signed(name: str, subject: str, san: str) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", subject, "-addext", f"subjectAltName={san}",
         "-keyout", str(CERTS / f"{name}-key.pem"), "-out", str(CERTS / f"{name}.pem")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


def main() -> None:
    shutil.rmtree(CERTS, ignore_errors=True)
    CERTS.mkdir(parents=True)
    self_signed("ca", "/CN=127.0.0.1", "IP:127.0.0.1,DNS:localhost")  # the server's own
    self_signed("client", "/CN=weirflow-client", "DNS:client")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTS / "ca.pem", CERTS / "ca-key.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(CERTS / "client.pem")
    with LocalHTTPServer(ssl_context=context) as server:
        server.route("GET", "/readings", {"celsius": 21.5})
        builder = FlowBuilder()
        add_https_readings(builder, server.url, CERTS)
        https = builder.build()
        https.launch_flow()
        unverified = FlowBuilder()
        unverified.add_pipeline("plain").with_http_connector(f"{server.url}/readings").send(print)
        try:
            unverified.build().launch_flow()
        except PipelineFailed as failure:
            refusal = failure.__cause__
        else:
            raise AssertionError("a self-signed server must be refused by default")
    print(https.storage("secure").load())
    print(refusal)
    assert https.storage("secure").load() == [{"celsius": 21.5}]
    assert isinstance(refusal, HttpRequestError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refusal)
    both = FlowBuilder()
    add_https_readings(both, "https://127.0.0.1:1", CERTS)
    add_tls_subscription(both, "127.0.0.1", CERTS)  # the files are loaded and checked now
    assert [p.name for p in both.build().pipelines] == ["secure", "sensors"]


if __name__ == "__main__":
    main()
