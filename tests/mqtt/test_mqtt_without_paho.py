"""Without the ``mqtt`` extra (paho-mqtt not installed) MQTT says which extra to install.

The missing package is simulated in a fresh interpreter: ``sys.modules["paho"] = None`` makes
every ``import paho...`` fail as if it were not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["paho"] = None  # as if paho-mqtt were not installed

    from weirflow import ConfigError, FlowBuilder

    builder = FlowBuilder()
    try:
        builder.add_pipeline("alerts").with_core_logic(lambda: {"n": 1}).send(
            "mqtt", destination="localhost", topic="alerts/out"
        )
    except ConfigError as error:
        print("send:", type(error).__name__, error)
    try:
        import weirflow.senders.mqtt
    except ImportError as error:
        print("sender module:", type(error).__name__, error)
    try:
        FlowBuilder().add_pipeline("readings").with_mqtt_connector("localhost", topic="s/#")
    except ImportError as error:
        print("connector:", type(error).__name__, error)
    import weirflow.senders  # the registry itself needs no paho
    print("registry:", "mqtt" in weirflow.senders.SENDERS)
    """
)

HINT = "weirflow's MQTT connector and sender need paho-mqtt 2: pip install 'weirflow[mqtt]'"


def test_send_mqtt_without_paho_is_a_config_error_naming_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"send: ConfigError pipeline 'alerts', stage 'alerts.send': send('mqtt'): {HINT}",
        f"sender module: ImportError {HINT}",
        f"connector: ImportError {HINT}",
        "registry: True",
    ]
