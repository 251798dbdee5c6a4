"""The process that holds a local Ray for weirflow: ``python -m ...executors._ray_head CPUS``.

Started by ``_ray_cluster`` in a session of its own, so the signals a terminal or a service
manager sends to the program's process group (Ctrl-C, ``kill -TERM -PGID``) do not reach Ray's
processes, which would otherwise die under the flow while it stops gracefully. It starts Ray
(``address="local"``: always a new instance, its GCS on a free port, never Redis's 6379; no
dashboard, no usage statistics, bound to the loopback interface), prints ``address HOST:PORT``
and waits for its standard input to close: when the
program shuts it down or dies, it shuts Ray down and exits (Ray's processes die with it, too).
"""

from __future__ import annotations

import logging
import os
import signal
import sys


def main(cpus: int) -> None:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the program decides when Ray stops
    try:
        import ray

        ray.init(
            address="local",
            num_cpus=cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            _node_ip_address="127.0.0.1",
        )
        address = ray.get_runtime_context().gcs_address
    except BaseException as error:
        print(f"error {type(error).__name__}: {error}".replace("\n", " "), flush=True)
        return
    print(f"address {address}", flush=True)
    sys.stdin.read()  # until the program closes it, or ends
    ray.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]))
