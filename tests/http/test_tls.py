"""TLS options reach the connection: CA bundles, verify=False, client certificates.

The certificates are made with the ``openssl`` command (the virtualenv has no ``cryptography``)
and served by a LocalHTTPServer over HTTPS, so every check is a real handshake.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from weirflow import ConfigError
from weirflow.connectors.http import HttpRequestError, HttpSender, HttpSource
from weirflow.testing import LocalHTTPServer, Response


@dataclass(frozen=True)
class Certificates:
    server_cert: Path  # self-signed for 127.0.0.1: also the CA bundle that trusts it
    server_key: Path
    client_cert: Path  # self-signed client certificate
    client_key: Path


def _self_signed(directory: Path, name: str, subject: str, san: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", subject,
            "-addext", f"subjectAltName={san}", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Certificates made with the openssl command (the venv has no ``cryptography``)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory = tmp_path_factory.mktemp("tls")
    server_cert, server_key = _self_signed(
        directory, "server", "/CN=127.0.0.1", "IP:127.0.0.1,DNS:localhost"
    )
    client_cert, client_key = _self_signed(directory, "client", "/CN=weirflow-client", "DNS:client")
    return Certificates(server_cert, server_key, client_cert, client_key)


def _server_context(certificates: Certificates, client_auth: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    if client_auth:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certificates.client_cert)
    return context


@pytest.fixture
def https(certificates: Certificates) -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer(ssl_context=_server_context(certificates, client_auth=False)) as server:
        server.route("GET", "/numbers", {"value": 3})
        server.route("POST", "/reports", Response(201))
        yield server


@pytest.fixture
def mutual_tls(certificates: Certificates) -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer(ssl_context=_server_context(certificates, client_auth=True)) as server:
        server.route("GET", "/numbers", {"value": 4})
        yield server


def _read(url: str, **options: Any) -> list[Any]:
    source = HttpSource(url, pipeline="secure", backoff=0.01, **options)
    try:
        return list(source.read({}))
    finally:
        source.close()


def test_ca_bundle_path(https: LocalHTTPServer, certificates: Certificates) -> None:
    assert https.url.startswith("https://")
    assert _read(f"{https.url}/numbers", verify=str(certificates.server_cert)) == [{"value": 3}]


def test_ca_bundle_as_path_object(https: LocalHTTPServer, certificates: Certificates) -> None:
    assert _read(f"{https.url}/numbers", verify=certificates.server_cert) == [{"value": 3}]


def test_default_verification_rejects_a_self_signed_server(https: LocalHTTPServer) -> None:
    with pytest.raises(HttpRequestError) as caught:
        _read(f"{https.url}/numbers", retries=3)
    message = str(caught.value)
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "check verify=" in message
    assert caught.value.attempts == 1  # a bad certificate is not retried
    assert https.requests == []


def test_verify_false(https: LocalHTTPServer) -> None:
    assert _read(f"{https.url}/numbers", verify=False) == [{"value": 3}]


def test_client_certificate(mutual_tls: LocalHTTPServer, certificates: Certificates) -> None:
    cert = (str(certificates.client_cert), str(certificates.client_key))
    url = f"{mutual_tls.url}/numbers"
    assert _read(url, verify=str(certificates.server_cert), cert=cert) == [{"value": 4}]
    with pytest.raises(HttpRequestError, match=r"check verify=.* and cert="):
        _read(url, verify=str(certificates.server_cert), retries=0)
    assert len(mutual_tls.requests) == 1  # only the request with the certificate got through


def test_sender_tls_options(https: LocalHTTPServer, certificates: Certificates) -> None:
    sender = HttpSender(f"{https.url}/reports", verify=str(certificates.server_cert))
    try:
        sender.send({"mean": 1})
    finally:
        sender.close()
    assert https.requests[0].json == {"mean": 1}


def test_ca_bundle_directory(tmp_path: Any, certificates: Certificates) -> None:
    HttpSource("https://127.0.0.1/x", verify=str(tmp_path)).close()  # a directory is a capath


def test_bad_certificate_files(tmp_path: Any, certificates: Certificates) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"with_http_connector\(verify=\.\.\.\): cannot load"):
        HttpSource("https://127.0.0.1/x", verify=str(junk), pipeline="secure")
    with pytest.raises(ConfigError, match=r"with_http_connector\(cert=\.\.\.\): cannot load"):
        HttpSource("https://127.0.0.1/x", cert=str(junk), pipeline="secure")
    with pytest.raises(ConfigError, match=r"cert=\.\.\.\): give a PEM file path"):
        HttpSource("https://127.0.0.1/x", cert=("a", "b", "c", "d"), pipeline="secure")  # type: ignore[arg-type]


def test_a_certificate_failure_is_one_clear_permanent_error(https: LocalHTTPServer) -> None:
    """Connector and sender alike: the URL, the reason, no retry, one line."""
    source = HttpSource(f"{https.url}/numbers?apikey=k3y-value", pipeline="secure", retries=3)
    sender = HttpSender(f"{https.url}/reports", pipeline="secure", retries=3, backoff=0.01)
    try:
        with pytest.raises(HttpRequestError) as from_source:
            source.read({})
        with pytest.raises(HttpRequestError) as from_sender:
            sender.send({"mean": 1})
    finally:
        source.close()
        sender.close()
    for caught, target in ((from_source, "GET"), (from_sender, "POST")):
        message = str(caught.value)
        assert message.startswith(f"pipeline 'secure': {target} {https.url}/")
        assert "the server's TLS certificate failed verification" in message
        assert "self-signed certificate" in message  # the reason, from the TLS library
        assert "\n" not in message
        assert caught.value.attempts == 1
    assert "apikey=***" in str(from_source.value)
    assert "k3y-value" not in str(from_source.value)
    assert https.requests == []
