"""The Redis broker over TLS, against private ``redis-server``s that listen on TLS only.

A CA made with ``openssl`` signs the servers' certificate (for 127.0.0.1 and localhost) and a
client certificate; a second CA signs nothing the servers know. One server asks for a password
(every URL here carries it, and no output may show it), the other for a client certificate
(mutual TLS). The TLS files reach the broker in the URL's query (``ssl_ca_certs=...``), the
same in ``FlowBuilder(broker=...)``, ``--broker`` and ``$WEIRFLOW_BROKER``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis_support import HERE, eventually, finish, weirflow

from weirflow import BrokerError, ConfigError, FlowBuilder, PipelineFailed
from weirflow.connectors.redis import RedisOptions, make_client
from weirflow.testing import free_port
from weirflow.testing._servers import wait_for_port
from weirflow.testing.pytest_plugin import skip_or_fail

PASSWORD = "tls-s3cret-pw"
SERVICE = HERE / "services" / "tls_service.py"


@dataclass(frozen=True)
class Certs:
    """The PEM files of one test module (``<name>.pem`` and ``<name>-key.pem``)."""

    directory: Path

    def pem(self, name: str) -> str:
        return str(self.directory / f"{name}.pem")

    def key(self, name: str) -> str:
        return str(self.directory / f"{name}-key.pem")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _make_ca(certs: Certs, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "2", "-subj", f"/CN=weirflow test {name}",
        "-keyout", certs.key(name), "-out", certs.pem(name),
    )  # fmt: skip


def _sign(certs: Certs, name: str, subject: str, san: str | None) -> None:
    request = certs.directory / f"{name}.csr"
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", subject, "-keyout", certs.key(name), "-out", str(request),
    )  # fmt: skip
    extensions = certs.directory / f"{name}.ext"
    extensions.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", certs.pem("ca"), "-CAkey", certs.key("ca"),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", certs.pem(name),
    )  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, a server certificate and a client certificate it signed, and another CA."""
    if shutil.which("openssl") is None:
        skip_or_fail("the openssl program is needed (apt install openssl)")
    made = Certs(tmp_path_factory.mktemp("tls"))
    _make_ca(made, "ca")
    _make_ca(made, "other-ca")
    _sign(made, "server", "/CN=127.0.0.1", "IP:127.0.0.1,DNS:localhost")
    _sign(made, "client", "/CN=weirflow-client", None)
    return made


class TlsRedis:
    """A ``redis-server`` listening on TLS only (``--port 0``), no persistence."""

    def __init__(self, certs: Certs, directory: Path, *, password: str | None, mutual: bool):
        self.port = free_port()
        self.certs = certs
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
            "--tls-cert-file", certs.pem("server"), "--tls-key-file", certs.key("server"),
            "--tls-ca-cert-file", certs.pem("ca"),
            "--tls-auth-clients", "yes" if mutual else "no",
            "--save", "", "--appendonly", "no", "--dir", str(directory),
            "--logfile", str(directory / "redis.log"),
        ]  # fmt: skip
        if password is not None:
            command += ["--requirepass", password]
        self.password = password
        self.mutual = mutual
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port("127.0.0.1", self.port, 10)
        client = make_client(RedisOptions.from_url(self.url()))
        try:
            eventually(lambda: _answers(client), 10, "the TLS redis-server answers")
        finally:
            client.close()

    def url(self, ca: str | None = "ca", *, client_cert: bool | None = None, **query: str) -> str:
        """A ``rediss://`` URL of this server trusting the CA ``ca`` (None: the system's)."""
        auth = f":{self.password}@" if self.password else ""
        params = dict(query)
        if ca is not None:
            params["ssl_ca_certs"] = self.certs.pem(ca)
        if self.mutual if client_cert is None else client_cert:
            params["ssl_certfile"] = self.certs.pem("client")
            params["ssl_keyfile"] = self.certs.key("client")
        text = "&".join(f"{name}={value}" for name, value in params.items())
        return f"rediss://{auth}127.0.0.1:{self.port}/0" + (f"?{text}" if text else "")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _answers(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _server(certs: Certs, factory: pytest.TempPathFactory, **how: Any) -> Iterator[TlsRedis]:
    if shutil.which("redis-server") is None:
        skip_or_fail("the redis-server program is needed (apt install redis-server)")
    server = TlsRedis(certs, factory.mktemp("redis-tls"), **how)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_redis(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    """A TLS-only Redis that asks for a password."""
    yield from _server(certs, tmp_path_factory, password=PASSWORD, mutual=False)


@pytest.fixture(scope="module")
def mtls_redis(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    """A TLS-only Redis that asks for a client certificate signed by the CA."""
    yield from _server(certs, tmp_path_factory, password=None, mutual=True)


def _name() -> str:
    return f"wf-tls-{uuid.uuid4().hex[:10]}"


def _jobs_flow(name: str, broker: str, out: Path, n: int = 50) -> Any:
    builder = FlowBuilder(name=name, broker=broker)
    builder.add_pipeline("produce").with_core_logic(lambda: iter(range(n))).send(
        "stream", name="jobs"
    )
    (
        builder.add_pipeline("work")
        .with_stream_connector("jobs")
        .with_core_logic(lambda i: {"id": i, "square": i * i}, kind="thread", workers=2)
        .with_storage("jsonl", path=str(out))
    )
    return builder.build()


def _stored(out: Path) -> list[int]:
    return sorted(json.loads(line)["id"] for line in out.read_text().splitlines())


def _groups(server: TlsRedis, name: str) -> list[dict[str, Any]]:
    client = make_client(RedisOptions.from_url(server.url()))
    try:
        return [
            {k if isinstance(k, str) else k.decode(): v for k, v in group.items()}
            for group in client.xinfo_groups(f"{name}:jobs")
        ]
    finally:
        client.close()


# -- a flow ----------------------------------------------------------------------------------


def test_a_flow_moves_every_item_through_a_tls_broker(tls_redis: TlsRedis, tmp_path: Path) -> None:
    name, out = _name(), tmp_path / "squares.jsonl"
    flow = _jobs_flow(name, tls_redis.url(), out)
    flow.launch_flow(execution_seconds=60)
    assert _stored(out) == list(range(50))
    [stream] = flow.cluster_status().streams
    [group] = stream.groups
    assert (group.pipeline, group.lag, group.pending, stream.dead_letters) == ("work", 0, 0, 0)
    [raw] = _groups(tls_redis, name)  # what the server itself says, over TLS
    assert (raw["name"], raw["pending"], raw["lag"]) in {("work", 0, 0), (b"work", 0, 0)}


def test_mutual_tls_with_a_client_certificate(mtls_redis: TlsRedis, tmp_path: Path) -> None:
    out = tmp_path / "squares.jsonl"
    _jobs_flow(_name(), mtls_redis.url(), out, n=20).launch_flow(execution_seconds=60)
    assert _stored(out) == list(range(20))


@pytest.mark.parametrize("ca", ["other-ca", None], ids=["wrong-ca", "system-cas"])
def test_a_server_certificate_that_does_not_verify_is_one_clear_error(
    tls_redis: TlsRedis, tmp_path: Path, ca: str | None
) -> None:
    flow = _jobs_flow(_name(), tls_redis.url(ca), tmp_path / "out.jsonl")
    with pytest.raises((PipelineFailed, ExceptionGroup)) as failed:
        flow.launch_flow(execution_seconds=60)  # a hang would end here, and fail below
    errors = _leaves(failed.value)
    assert errors
    assert all(isinstance(error, BrokerError) for error in errors), errors
    message = str(errors[0])
    assert f"Redis broker rediss://:***@127.0.0.1:{tls_redis.port}/0" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "check the TLS options of the broker URL (ssl_ca_certs" in message
    assert PASSWORD not in "".join(traceback.format_exception(failed.value))


def test_a_wrong_password_over_tls_is_refused_without_showing_it(
    tls_redis: TlsRedis, tmp_path: Path
) -> None:
    url = tls_redis.url().replace(PASSWORD, "not-the-pw")
    flow = _jobs_flow(_name(), url, tmp_path / "out.jsonl")
    with pytest.raises((PipelineFailed, ExceptionGroup)) as failed:
        flow.launch_flow(execution_seconds=60)
    [error, *_] = _leaves(failed.value)
    assert isinstance(error, BrokerError)
    assert "check the user and password in the broker URL" in str(error)
    text = "".join(traceback.format_exception(failed.value))
    assert "not-the-pw" not in text
    assert PASSWORD not in text


def test_tls_options_are_checked_when_the_flow_is_built(
    tls_redis: TlsRedis, certs: Certs, tmp_path: Path
) -> None:
    def build(url: str) -> str:
        with pytest.raises(ConfigError) as failed:
            _jobs_flow(_name(), url, tmp_path / "out.jsonl")
        assert PASSWORD not in str(failed.value)
        return str(failed.value)

    base = f"rediss://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0"
    missing = str(tmp_path / "missing.pem")
    assert f"cannot load the CA certificates ssl_ca_certs={missing!r}" in build(
        f"{base}?ssl_ca_certs={missing}"
    )
    assert "cannot load the client certificate" in build(
        f"{base}?ssl_certfile={certs.pem('ca')}"  # a certificate without its key
    )
    assert "ssl_keyfile needs ssl_certfile" in build(f"{base}?ssl_keyfile={certs.key('client')}")
    assert "need a rediss:// URL" in build(
        f"redis://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0?ssl_ca_certs={certs.pem('ca')}"
    )
    assert "unknown query parameter 'ssl_ca_cert' (did you mean 'ssl_ca_certs'?)" in build(
        f"{base}?ssl_ca_cert={certs.pem('ca')}"
    )
    assert "ssl_cert_reqs must be one of required, none" in build(f"{base}?ssl_cert_reqs=maybe")


def test_ssl_cert_reqs_none_skips_the_check(tls_redis: TlsRedis, tmp_path: Path) -> None:
    out = tmp_path / "squares.jsonl"
    url = tls_redis.url(None, ssl_cert_reqs="none")
    _jobs_flow(_name(), url, out, n=5).launch_flow(execution_seconds=60)
    assert _stored(out) == list(range(5))


def _leaves(error: BaseException) -> list[BaseException]:
    """The errors under ``error``: group members, else the causes of a pipeline's failure."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for member in error.exceptions for leaf in _leaves(member)]
    if isinstance(error, BrokerError) or error.__cause__ is None:
        return [error]
    return _leaves(error.__cause__)


# -- the command line ------------------------------------------------------------------------


def _cli(*args: str, cwd: Path, **env: str) -> tuple[int, str, str]:
    command, *rest = args
    return finish(weirflow(command, str(SERVICE), *rest, cwd=cwd, env=env), 90)


def test_weirflow_run_and_status_over_tls(tls_redis: TlsRedis, tmp_path: Path) -> None:
    name, out, url = _name(), tmp_path / "squares.jsonl", tls_redis.url()
    settings = {"WF_FLOW": name, "WF_OUT": str(out), "WF_N": "40"}
    worker = weirflow(
        "run", str(SERVICE), "--pipelines", "work", "--broker", url, cwd=tmp_path, env=settings
    )
    try:
        code, _, err = _cli(
            "run", "--pipelines", "produce", cwd=tmp_path, WEIRFLOW_BROKER=url, **settings
        )
        assert code == 0, err
        code, report, err = finish(worker, 90)
        assert code == 0, err
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.communicate()
    assert _stored(out) == list(range(40))
    assert PASSWORD not in report + err
    code, text, err = _cli("status", "--broker", url, "--json", cwd=tmp_path, **settings)
    assert code == 0, err
    found = json.loads(text)
    assert found["broker"] == url.replace(PASSWORD, "***")
    [stream] = found["streams"]
    [group] = stream["groups"]
    assert (group["pipeline"], group["lag"], group["pending"]) == ("work", 0, 0)
    assert (stream["length"], stream["dead_letters"], group["dead_letters"]) == (0, 0, 0)
    code, text, err = _cli("status", "--broker", url, cwd=tmp_path, **settings)
    assert code == 0, err
    assert f"flow {name!r} on rediss://:***@127.0.0.1:{tls_redis.port}/0?ssl_ca_certs=" in text
    assert PASSWORD not in text + err


def test_weirflow_run_and_status_with_a_wrong_ca_fail_in_one_line(
    tls_redis: TlsRedis, tmp_path: Path
) -> None:
    settings = {"WF_FLOW": _name(), "WF_OUT": str(tmp_path / "out.jsonl")}
    url = tls_redis.url("other-ca")
    code, out, err = _cli("run", "--broker", url, cwd=tmp_path, **settings)
    assert code != 0
    assert "CERTIFICATE_VERIFY_FAILED" in err
    assert f"rediss://:***@127.0.0.1:{tls_redis.port}/0" in err
    assert "Traceback" not in err
    assert PASSWORD not in out + err
    code, out, err = _cli("status", "--broker", url, cwd=tmp_path, **settings)
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"weirflow: Redis broker rediss://:***@127.0.0.1:{tls_redis.port}/0")
    assert "CERTIFICATE_VERIFY_FAILED" in line
    assert PASSWORD not in out + err


def test_weirflow_with_a_missing_ca_file_is_a_configuration_error(
    tls_redis: TlsRedis, tmp_path: Path
) -> None:
    settings = {"WF_FLOW": _name(), "WF_OUT": str(tmp_path / "out.jsonl")}
    url = tls_redis.url().replace("ca.pem", "nowhere.pem")
    for command in ("run", "status"):
        code, out, err = _cli(command, "--broker", url, cwd=tmp_path, **settings)
        assert code == 2, err
        assert "cannot load the CA certificates ssl_ca_certs=" in err
        assert "Traceback" not in err
        assert PASSWORD not in out + err


def test_weirflow_status_with_and_without_a_client_certificate(
    mtls_redis: TlsRedis, tmp_path: Path
) -> None:
    settings = {"WF_FLOW": _name(), "WF_OUT": str(tmp_path / "out.jsonl")}
    code, text, err = _cli(
        "status", "--broker", mtls_redis.url(), "--json", cwd=tmp_path, **settings
    )
    assert code == 0, err
    assert json.loads(text)["instances"] == []
    url = mtls_redis.url(client_cert=False)
    code, _, err = _cli("status", "--broker", url, cwd=tmp_path, **settings)
    assert code == 1  # refused by the server (a TLS alert) or cut off: not an answer either way
    assert f"Redis broker rediss://127.0.0.1:{mtls_redis.port}/0" in err
    assert "Traceback" not in err
