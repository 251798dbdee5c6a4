"""Testing weirflow services: stand-ins, a real HTTP server, a virtual clock, conformance suites.

Everything here works under any test runner and imports no test framework; the pytest fixtures
(``mqtt_broker``) live in :mod:`weirflow.testing.pytest_plugin`, which pytest loads by itself
once weirflow is installed. What lives where:

- ``_lists.py``: :class:`ListSource`, :class:`ListStorage`, :class:`ListSender`, stand-ins
  that record what a flow stored or sent, across threads and worker processes (file-backed).
- ``_recorder.py``: :class:`Recorder`, a function that records its calls the same way.
- ``_run_once.py``: :func:`run_once`, one run of each scheduled pipeline on a virtual clock,
  and its frozen results (:class:`PipelineResult`, :class:`RunStatistics`).
- ``_http_server.py``: :class:`LocalHTTPServer` (with :class:`Request`, :class:`Response`),
  a real HTTP(S) server on 127.0.0.1 for HTTP sources and senders.
- ``_servers.py``: :func:`reachable`, :func:`free_port`, :class:`Mosquitto` (a private MQTT
  broker) and :func:`mosquitto_command` (where its program is).
- ``_check_storage.py``, ``_check_sender.py``, ``_check_source.py``: :func:`check_storage`,
  :func:`check_sender`, :func:`check_source`, the conformance suites of
  :mod:`weirflow.abc` (shared helpers in ``_checking.py``).
- :class:`VirtualClock` (from :mod:`weirflow.flows`): a pipeline's clock in schedule tests;
  waiting advances virtual time at once, so a test of "every hour" never sleeps. Give it to a
  pipeline's scheduler in place of the system clock (a ``Flow`` takes it as ``clock=``);
  ``advance(seconds)`` moves time on, ``now()`` and ``monotonic()`` read it.

Example:
    >>> import threading
    >>> from weirflow.testing import VirtualClock
    >>> clock = VirtualClock()
    >>> clock.wait(threading.Event(), 3600.0)  # returns at once: an hour passed
    False
    >>> clock.now().isoformat()
    '2030-01-01T01:00:00+00:00'
"""

from __future__ import annotations

from ..flows import VirtualClock as VirtualClock
from ._check_sender import check_sender as check_sender
from ._check_source import check_source as check_source
from ._check_storage import check_storage as check_storage
from ._checking import SAMPLE_ITEMS as SAMPLE_ITEMS
from ._http_server import LocalHTTPServer as LocalHTTPServer
from ._http_server import Request as Request
from ._http_server import Response as Response
from ._lists import ListSender as ListSender
from ._lists import ListSource as ListSource
from ._lists import ListStorage as ListStorage
from ._recorder import Recorder as Recorder
from ._run_once import PipelineResult as PipelineResult
from ._run_once import RunStatistics as RunStatistics
from ._run_once import run_once as run_once
from ._servers import Mosquitto as Mosquitto
from ._servers import free_port as free_port
from ._servers import mosquitto_command as mosquitto_command
from ._servers import reachable as reachable

__all__ = [
    "SAMPLE_ITEMS",
    "ListSender",
    "ListSource",
    "ListStorage",
    "LocalHTTPServer",
    "Mosquitto",
    "PipelineResult",
    "Recorder",
    "Request",
    "Response",
    "RunStatistics",
    "VirtualClock",
    "check_sender",
    "check_source",
    "check_storage",
    "free_port",
    "mosquitto_command",
    "reachable",
    "run_once",
]
