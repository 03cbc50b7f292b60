"""A tiny ASGI router around the Collector, for tests and the bench.

`POST /_tailor/e` -> Collector; `GET /_test/profile` -> the cookie visitor's
profile as JSON (through ProfileStore.get, the proxy's fast path);
`POST /_test/link?customer=C`, `GET /_test/export`, `POST /_test/delete`.
Run in a subprocess with `uvicorn --factory tests.collector.server_app:create_app`;
the data directory comes from TAILOR_TEST_DATA_DIR (read once, at start-up).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs

import msgspec

from proxy.clock import SYSTEM_CLOCK, Clock
from proxy.collector import Collector
from proxy.identity import VisitorIds, load_or_create_secret
from proxy.profile_store import ProfileStore
from proxy.settings import Settings, settings_from_dict


def make_settings(data_dir: str, **collector: Any) -> Settings:
    return settings_from_dict({"proxy": {"data_dir": data_dir}, "collector": collector})


class TestApp:
    __test__ = False  # not a pytest class

    def __init__(self, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.clock = clock
        self.store: ProfileStore | None = None
        self.collector: Collector | None = None
        self.ids = VisitorIds(load_or_create_secret(settings.proxy.data_dir))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.store = await ProfileStore.open(self.settings, clock=self.clock)
                    self.collector = Collector(self.settings, self.store, self.ids, clock=self.clock)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.store is not None:
                        await self.store.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        assert self.store is not None and self.collector is not None
        path = scope["path"]
        if path == "/_tailor/e":
            await self.collector(scope, receive, send)
            return
        if path == "/ok":  # the bench's baseline: read and discard the body
            while (await receive()).get("more_body"):
                pass
            await _json(send, 200, {"ok": True})
            return
        cookie = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        vid = self.ids.read(cookie)
        query = parse_qs(scope.get("query_string", b"").decode())
        if vid is None:
            await _json(send, 404, {"error": "no visitor"})
        elif path == "/_test/profile":
            profile = await self.store.get(vid)
            await _json(send, 200, {"vid": vid, "profile": msgspec.to_builtins(profile) if profile else None})
        elif path == "/_test/link":
            await self.store.link_customer(vid, query["customer"][0])
            await _json(send, 200, {"ok": True})
        elif path == "/_test/export":
            await _json(send, 200, await self.store.export_visitor(vid))
        elif path == "/_test/delete":
            await _json(send, 200, {"deleted": await self.store.delete_visitor(vid)})
        else:
            await _json(send, 404, {"error": "not found"})


async def _json(send: Any, status: int, payload: Any) -> None:
    body = msgspec.json.encode(payload)
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def create_app() -> TestApp:
    data_dir = os.environ["TAILOR_TEST_DATA_DIR"]
    collector = msgspec.json.decode(os.environ.get("TAILOR_TEST_COLLECTOR", "{}"))
    return TestApp(make_settings(data_dir, **collector))


def main() -> None:
    """Subprocess entry: `python -m tests.collector.server_app FD` serves on an inherited listening socket.

    (Not `uvicorn --fd`: it rebuilds the socket as AF_UNIX, so asyncio skips
    TCP_NODELAY and responses stall ~40 ms on delayed ACKs.)
    """
    import socket
    import sys

    import uvicorn

    sock = socket.socket(fileno=int(sys.argv[1]))
    config = uvicorn.Config(create_app(), log_level="warning", access_log=False, lifespan="on", http="httptools")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
