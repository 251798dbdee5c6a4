"""Local stand-ins for the devices and services the wiredflow scenarios talk to.

Each scenario starts these itself (on a free local port) so it runs anywhere; point a scenario at
real endpoints by passing their base URL instead.
"""

from __future__ import annotations

import random
import string

from weirflow.testing import LocalHTTPServer, Request


def start_endpoints(seed: int = 7) -> LocalHTTPServer:
    """``/integers`` and ``/letters`` (GET, need an ``apikey`` header), ``/sql`` (POST), and
    ``/notifications`` (PUT/POST, records what it receives)."""
    server = LocalHTTPServer()
    rng = random.Random(seed)

    def integers(request: Request) -> tuple[int, object]:
        if request.headers.get("apikey") != "custom_key_1234":
            return 401, {"error": "missing or wrong apikey"}
        return 200, {"Generated random number": rng.randint(0, 100)}

    def letters(request: Request) -> dict[str, str]:
        return {"Generated random letter": rng.choice(string.ascii_letters)}

    def sql(request: Request) -> list[dict[str, int]]:
        query = (request.json or {}).get("data", "")
        limit = int(query.rsplit("limit", 1)[-1]) if "limit" in query else 1
        return [{"row": rng.randint(0, 1000)} for _ in range(limit)]

    server.route("GET", "/integers", integers)
    server.route("GET", "/letters", letters)
    server.route("POST", "/sql", sql)
    server.route("PUT", "/notifications", lambda request: (204, None))
    server.route("POST", "/notifications", lambda request: (201, {"ok": True}))
    return server
