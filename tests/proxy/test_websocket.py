"""WebSockets through a real Tailor to a real origin (Starlette under uvicorn), over real sockets.

The client is the `websockets` library's synchronous client; the origin records what it saw.
"""

from __future__ import annotations

import threading

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from proxy.app import create_app
from proxy.settings import load_settings
from tests.servers import free_port, serve


class WsOrigin:
    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.closed_with: list[int] = []
        self.done = threading.Event()
        self.app = Starlette(routes=[
            WebSocketRoute("/echo", self.echo),
            WebSocketRoute("/push", self.push),
            WebSocketRoute("/bye", self.bye),
            WebSocketRoute("/refuse", self.refuse),
        ])

    def _record(self, ws: WebSocket) -> None:
        self.seen.append({"path": ws.url.path, "query": ws.url.query, "headers": list(ws.headers.items()),
                          "subprotocols": list(ws.scope.get("subprotocols", []))})

    async def echo(self, ws: WebSocket) -> None:
        self._record(ws)
        offered = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol="v1.chat" if "v1.chat" in offered else None)
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    self.closed_with.append(message.get("code", 0))
                    self.done.set()
                    return
                if message.get("text") is not None:
                    await ws.send_text("echo:" + message["text"])
                else:
                    await ws.send_bytes(b"echo:" + message["bytes"])
        except WebSocketDisconnect as exc:
            self.closed_with.append(exc.code)
            self.done.set()

    async def push(self, ws: WebSocket) -> None:
        self._record(ws)
        await ws.accept()
        for k in range(3):
            await ws.send_text(f"update {k}")
        await ws.send_bytes(bytes(range(256)) * 4096)  # 1 MiB binary
        await ws.receive()  # until the visitor goes

    async def bye(self, ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(code=4001, reason="session expired")

    async def refuse(self, ws: WebSocket) -> None:
        self._record(ws)
        await ws.close(code=1008)  # before accept: the handshake gets 403


@pytest.fixture(scope="module")
def origin():
    o = WsOrigin()
    with serve(o.app) as url:
        o.url = url
        yield o


@pytest.fixture(scope="module")
def tailor(origin, tmp_path_factory):
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path_factory.mktemp("data")), read_timeout=1.0)
    with serve(create_app(settings, personalize=False)) as url:
        yield url.replace("http://", "ws://")


def test_messages_echo_both_ways_with_the_origins_subprotocol(tailor, origin):
    with connect(tailor + "/echo?room=7", subprotocols=["v2.chat", "v1.chat"], open_timeout=5,
                 additional_headers={"Cookie": "session=abc", "Origin": "http://shop.example"}) as ws:
        assert ws.subprotocol == "v1.chat"
        ws.send("hello")
        assert ws.recv(timeout=5) == "echo:hello"
        ws.send(b"\x00\xffbin")
        assert ws.recv(timeout=5) == b"echo:\x00\xffbin"
        ws.send("caf\u00e9 \u2028")
        assert ws.recv(timeout=5) == "echo:caf\u00e9 \u2028"
    seen = [s for s in origin.seen if s["path"] == "/echo"][-1]
    headers = dict(seen["headers"])
    assert seen["query"] == "room=7"
    assert seen["subprotocols"] == ["v2.chat", "v1.chat"]
    assert headers["cookie"] == "session=abc"  # the origin's own session still works
    assert headers["origin"] == "http://shop.example"  # and its cross-site check still can
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["host"] == origin.url.removeprefix("http://")  # the configured origin, not the visitor's Host


def test_origin_pushes_text_and_a_large_binary_message(tailor):
    with connect(tailor + "/push", open_timeout=5, max_size=4 * 1024 * 1024) as ws:
        assert [ws.recv(timeout=5) for _ in range(3)] == ["update 0", "update 1", "update 2"]
        assert ws.recv(timeout=5) == bytes(range(256)) * 4096


def test_origin_close_code_and_reason_reach_the_visitor(tailor):
    with connect(tailor + "/bye", open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "session expired")


def test_visitor_close_code_reaches_the_origin(tailor, origin):
    origin.done.clear()
    with connect(tailor + "/echo", open_timeout=5) as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "echo:x"
        ws.close(code=4002, reason="tab closed")
    assert origin.done.wait(5)
    assert origin.closed_with[-1] == 4002


def test_origin_refusal_reaches_the_visitor_as_its_status(tailor, origin):
    with pytest.raises(InvalidStatus) as refused:
        connect(tailor + "/refuse", open_timeout=5)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as missing:
        connect(tailor + "/no-such-socket", open_timeout=5)
    assert missing.value.response.status_code in (403, 404)


def test_tailors_own_paths_take_no_websocket(tailor, origin):
    before = len(origin.seen)
    with pytest.raises(InvalidStatus) as refused:
        connect(tailor + "/_tailor/e", open_timeout=5)
    assert refused.value.response.status_code == 403
    assert len(origin.seen) == before


def test_origin_down_gives_502_quickly(tmp_path):
    settings = load_settings(None, origin=f"http://127.0.0.1:{free_port()}", data_dir=str(tmp_path), connect_timeout=1.0)
    with serve(create_app(settings, personalize=False)) as url:
        with pytest.raises(InvalidStatus) as down:
            connect(url.replace("http://", "ws://") + "/echo", open_timeout=5)
    assert down.value.response.status_code == 502
    assert b"origin unavailable" in down.value.response.body


def test_untrusted_peer_cannot_spoof_forwarding_headers_or_pick_the_upstream(origin, tmp_path):
    # Only 10.0.0.0/8 is trusted: the test client (127.0.0.1) is not, so what it claims is dropped.
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path), trusted_proxies=["10.0.0.0/8"])
    with serve(create_app(settings, personalize=False)) as url:
        spoof = {"X-Forwarded-Host": "evil.example", "X-Forwarded-For": "6.6.6.6", "Host": "evil.example"}
        with connect(url.replace("http://", "ws://") + "/echo", open_timeout=5, additional_headers=spoof) as ws:
            ws.send("x")
            assert ws.recv(timeout=5) == "echo:x"
    headers = dict(origin.seen[-1]["headers"])
    assert headers["host"] == origin.url.removeprefix("http://")
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "evil.example" not in headers.get("x-forwarded-host", "")
