"""Ray stages seen from outside: programs in subprocesses, signals, a cluster of its own.

Each test runs a real program: one that starts a local Ray on first use (and must never touch
Redis's port, 6379, where a Redis server may run), one without Ray installed, ``weirflow run``
stopped by SIGTERM (to it, or to its process group: the local Ray, in a session of its own, is
not hit), Ctrl-C in a consumer, and a driver reaching a cluster started with
``ray start --head --port N`` through ``RAY_ADDRESS``. That cluster is stopped by ending its
``ray start --block`` process (and its process group): ``ray stop`` would stop every Ray on the
machine, other programs' included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from weirflow.testing.pytest_plugin import skip_or_fail

from .conftest import RAY_INSTALLED
from .flows.cli_support import SRC, summary_items, weirflow, write

pytestmark = pytest.mark.timeout(240)  # each starts a Ray of its own, on a busy machine too


@pytest.fixture(autouse=True)
def needs_ray() -> None:
    if not RAY_INSTALLED:
        skip_or_fail("Ray is not installed: pip install 'weirflow[ray]'")


ALIVE = """
def alive_actors():
    import ray
    job = ray.get_runtime_context().get_job_id()
    return [a for a, info in ray._private.state.actors().items()
            if info["State"] != "DEAD" and info["JobID"] == job]

def settled_alive_actors():
    import time
    deadline = time.monotonic() + 20
    while alive_actors() and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(alive_actors())
"""


def python(code: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})},
        **kwargs,  # type: ignore[call-overload]
    )


def lines(stdout: str) -> dict[str, str]:
    """``key value`` lines printed by a child program."""
    return dict(line.split(" ", 1) for line in stdout.splitlines() if " " in line)


def gone(pids: list[int], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not [pid for pid in pids if Path(f"/proc/{pid}").exists()]:
            return True
        time.sleep(0.1)
    return False


def test_a_local_start_is_quiet_never_on_redis_port_and_shut_down_at_exit() -> None:
    child = python(
        """
        import os
        import weirflow as wf
        from weirflow._runtime.executors import _ray_cluster
        from weirflow.flows._signals import descendants

        print("result", sorted(wf.ray.map(abs, [-1, -2], num_cpus=0.5)))
        print("started_here", _ray_cluster.started_here())
        print("port", _ray_cluster.gcs_address().rsplit(":", 1)[1])
        print("usage_stats", os.environ["RAY_USAGE_STATS_ENABLED"])
        ray_pids = descendants(os.getpid())

        def sockets(pid):
            found = set()
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:  # gone meanwhile
                return found
            for fd in fds:
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    found.add(target[8:-1])
            return found

        ours = set().union(*(sockets(pid) for pid in [os.getpid(), *ray_pids]))
        on_6379 = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for row in open(table).read().splitlines()[1:]:
                fields = row.split()
                ports = {fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]}
                if "18EB" in ports and fields[9] in ours:  # 0x18EB = 6379
                    on_6379 += 1
        print("on_6379", on_6379)
        print("sockets", len(ours))
        print("pids", " ".join(map(str, ray_pids)))
        """
    )
    stdout, stderr = child.communicate(timeout=180)
    assert child.returncode == 0, stderr
    seen = lines(stdout)
    assert seen["result"] == "[1, 2]"
    assert seen["started_here"] == "True"
    assert seen["port"] != "6379"
    assert seen["usage_stats"] == "0"
    assert int(seen["sockets"]) > 0  # the check sees Ray's sockets...
    assert seen["on_6379"] == "0"  # ...and none of them listens on or talks to Redis's port
    assert "Started a local Ray instance" not in stderr  # quiet
    assert "Connecting to existing Ray cluster" not in stderr
    assert gone([int(pid) for pid in seen["pids"].split()])  # shut down at exit


def test_without_ray_installed_the_error_names_the_extra() -> None:
    child = python(
        """
        import sys
        sys.modules["ray"] = None  # as if not installed
        import weirflow as wf
        print("imported", "ray" in sys.modules and sys.modules["ray"] is not None)
        try:
            wf.ray.map(abs, [1])
        except ImportError as error:
            print("stage", error)
        try:
            wf.FlowBuilder().add_pipeline("p").with_core_logic(abs, kind="ray")
        except wf.ConfigError as error:
            print("flow", error)
        """
    )
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    seen = lines(stdout)
    assert seen["imported"] == "False"
    assert "pip install 'weirflow[ray]'" in seen["stage"]
    assert "pip install 'weirflow[ray]'" in seen["flow"]
    assert "'p.core_logic'" in seen["flow"]


def test_ctrl_c_in_the_consumer_kills_the_actors() -> None:
    child = python(
        ALIVE
        + """
import time
import weirflow as wf

stage = wf.ray.map(lambda x: x, iter(range(10**9)), workers=2, maxsize=4, num_cpus=0.5)
try:
    for value in stage:
        if value == 3:
            print("ready", value, flush=True)
        time.sleep(0.01)
except KeyboardInterrupt:
    print("alive", settled_alive_actors(), flush=True)
""",
        start_new_session=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().startswith("ready")
    os.kill(child.pid, signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    assert lines(stdout).get("alive") == "0", stderr


SERVICE = """
import os
from weirflow import FlowBuilder

def tick():
    print("tick", flush=True)
    return 7

def heavy(x):
    return {{"value": x * x, "pid": os.getpid()}}

builder = FlowBuilder(use_threads={use_threads})
builder.add_pipeline("ticks", timedelta_seconds=0.2).with_core_logic(tick).with_core_logic(
    heavy, kind="ray", workers=2, ray_options={{"num_cpus": 0.5}}
).with_storage("jsonl", path="ticks.jsonl")
"""


@pytest.mark.parametrize(
    ("use_threads", "to_group"),
    [
        pytest.param(True, True, id="threads-group"),  # a terminal's or a service manager's
        pytest.param(False, False, id="processes-pid"),  # ``kill PID``
    ],
)
def test_sigterm_stops_weirflow_run_with_a_ray_stage(
    tmp_path: Path, use_threads: bool, to_group: bool
) -> None:
    service = write(tmp_path, SERVICE.format(use_threads=use_threads))
    process = weirflow("run", str(service), cwd=tmp_path)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "tick"
    # wait until a run went through the actors, then signal the process or its group
    deadline = time.monotonic() + 120
    stored = tmp_path / "ticks.jsonl"
    while not (stored.exists() and stored.read_text().strip()):
        assert time.monotonic() < deadline, "no item stored"
        time.sleep(0.1)
    (os.killpg if to_group else os.kill)(process.pid, signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "received SIGTERM: stopping the flow" in stderr
    assert "SIGTERM received" not in stderr  # Ray's own handler stays out of the way
    rows = stored.read_text().splitlines()
    assert summary_items(stdout, "ticks") == len(rows) >= 1
    assert '"value": 49' in rows[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def head_node() -> Iterator[str]:
    """A Ray cluster of its own, ``ray start --head --port N``; its address (one per module)."""
    if not RAY_INSTALLED:
        skip_or_fail("Ray is not installed: pip install 'weirflow[ray]'")
    port = _free_port()
    assert port != 6379
    temp_dir = tempfile.mkdtemp(prefix="wfray", dir="/tmp")  # short: Ray's sockets live there
    ray_command = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen(
        [
            ray_command,
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
            "--block",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    try:
        deadline = time.monotonic() + 120
        while not _listening(port):
            assert head.poll() is None, head.stderr.read() if head.stderr else ""
            assert time.monotonic() < deadline, "the head node did not start"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        from weirflow.flows._signals import descendants

        started = [head.pid, *descendants(head.pid)]
        os.killpg(head.pid, signal.SIGTERM)  # the GCS ends; ``ray start --block`` lingers
        deadline = time.monotonic() + 10  # until the GCS has closed its port
        while head.poll() is None and _listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # the group it leads: the raylet, its workers
        head.wait(10)
        if head.stderr is not None:
            head.stderr.close()
        assert gone(started)


def test_a_driver_reaches_a_real_cluster_through_ray_address(head_node: str) -> None:
    child = python(
        ALIVE
        + """
import weirflow as wf
from weirflow._runtime.executors import _ray_cluster

def where(x):
    import os
    return x * 3, os.getpid()

results = sorted(wf.ray.map(where, range(20), workers=2, num_cpus=1))
print("values", [v for v, _ in results])
print("started_here", _ray_cluster.started_here())
print("address", _ray_cluster.gcs_address())
print("alive", settled_alive_actors())
""",
        env={"RAY_ADDRESS": head_node, "RAY_AUTH_MODE": "token"},  # the head's token (~/.ray)
    )
    stdout, stderr = child.communicate(timeout=180)
    assert child.returncode == 0, stderr
    seen = lines(stdout)
    assert seen["values"] == str([x * 3 for x in range(20)])
    assert seen["started_here"] == "False"  # joined, not started: left running at exit
    assert seen["address"].rsplit(":", 1)[1] == head_node.rsplit(":", 1)[1]  # the head's port
    assert seen["alive"] == "0"  # nothing of the stage left running in the cluster


def test_the_ray_example_sends_its_heavy_stage_to_the_cluster_of_ray_address(
    head_node: str, tmp_path: Path
) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "ray_images.py"
    result = subprocess.run(
        [sys.executable, str(example), "12"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": SRC, "RAY_ADDRESS": head_node, "RAY_AUTH_MODE": "token"},
    )
    assert result.returncode == 0, result.stderr
    assert "blurred 12 images on" in result.stdout
    assert f"Ray actor(s) of {head_node}" in result.stdout
