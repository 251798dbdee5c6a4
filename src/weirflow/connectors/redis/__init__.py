"""Redis: the broker that joins a flow's pipelines across processes and machines.

Install the extra: ``pip install 'weirflow[redis]'`` (redis-py 5 or newer; ``weirflow[msgpack]``
for ``serializer="msgpack"``). What lives here is the technology, both directions together:

- :class:`RedisOptions` (``_options.py``): the URL (``redis://`` or ``rediss://``), TLS files
  (also as ``?ssl_ca_certs=...&ssl_certfile=...&ssl_keyfile=...`` in the URL), socket
  timeouts, health checks and the reconnect backoff, as one frozen value whose
  :attr:`~RedisOptions.shown` URL never shows the password;
- :func:`make_client` (``_client.py``): a redis-py client with explicit socket timeouts (redis-py's
  defaults turn a blocked read into a minute-long hang), retries and ``health_check_interval``,
  and :func:`reason` (why a call failed, in one line, without credentials);
- :class:`Codec` (``_codec.py``): items as JSON (datetimes, dates, decimals, bytes, UUIDs
  encoded explicitly) or msgpack, never pickle.

The broker built on these (consumer groups, acknowledgements after a pipeline's last stage,
claims of a dead consumer's entries, dead letters, trimming, end of stream) is the service
layer's: :mod:`weirflow.flows._redis_broker`.
"""

from __future__ import annotations

from ._client import is_outage, make_client, reason
from ._codec import SERIALIZERS, Codec
from ._options import RedisOptions

__all__ = ["SERIALIZERS", "Codec", "RedisOptions", "is_outage", "make_client", "reason"]
