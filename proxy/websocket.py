"""WebSocket relay: a visitor's WebSocket goes to the origin and its messages pass through unchanged.

Rule: the upstream is the configured origin, never a request's Host. The
origin sees the headers HTTP requests get (hop-by-hop and handshake headers
dropped, X-Forwarded-* added, cookies kept); the visitor is accepted only once
the origin accepted, with the subprotocol the origin chose, and an origin's
refusal reaches the visitor with its status. Messages are relayed as they are
in both directions, never read; a close on one side closes the other with its
code. Sites behind Tailor keep their live features (chat widgets, CMS live
preview, Rails ActionCable, Phoenix LiveView, Django Channels).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict

from proxy import headers as H

log = logging.getLogger("tailor.websocket")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # uvicorn's own limit for what visitors send
CLOSE_TIMEOUT = 5.0
# Handshake headers are each hop's own: aiohttp makes new ones for the origin.
_HANDSHAKE = frozenset((b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                        b"sec-websocket-protocol", b"sec-websocket-accept"))
# Close codes that must never be sent in a close frame (RFC 6455 7.4.1) and what to send instead.
_UNSENDABLE = {1005: 1000, 1006: 1011, 1015: 1011}


def _close_code(code: int | None, default: int) -> int:
    if code is None:
        return default
    code = _UNSENDABLE.get(code, code)
    return code if 1000 <= code <= 4999 and code not in (1004,) else default


class WebSocketRelay:
    """ASGI handler for `websocket` scopes. `start()` and `aclose()` belong to the app's lifespan."""

    def __init__(self, *, origin: str, trusted: H.TrustedProxies, preserve_host: bool = False,
                 connect_timeout: float = 5.0, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"origin must be http(s)://host[:port], got {origin!r}")
        self._base = ("wss://" if parts.scheme == "https" else "ws://") + origin.rstrip("/").partition("://")[2]
        self._trusted = trusted
        self._origin_host = parts.netloc.encode()
        self._preserve_host = preserve_host
        self._connect_timeout = connect_timeout
        self._max_message = max_message_bytes
        self._session: aiohttp.ClientSession | None = None
        self.open = 0  # relays running now
        self.refused = 0  # handshakes the origin refused or could not take

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),  # one visitor's cookies never reach another's connection
            timeout=aiohttp.ClientTimeout(total=None, connect=self._connect_timeout, sock_connect=self._connect_timeout),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __call__(self, scope, receive, send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        assert self._session is not None, "lifespan not run"
        client = scope.get("client")
        peer = client[0] if client else None
        scheme = "https" if scope.get("scheme") == "wss" else "http"
        if self._trusted.trusts(peer):
            scheme = H.forwarded_scheme(scope["headers"], scheme)
        forwarded = H.forwarded_request_headers(scope["headers"], peer=peer, trusted=self._trusted, scheme=scheme,
                                                origin_host=self._origin_host, preserve_host=self._preserve_host)
        headers = CIMultiDict((n.decode("latin-1"), v.decode("latin-1")) for n, v in forwarded if n not in _HANDSHAKE)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        url = self._base + raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        try:
            ws = await self._session.ws_connect(
                url, protocols=scope.get("subprotocols") or (), headers=headers, autoping=True,
                max_msg_size=self._max_message, timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT),
            )
        except aiohttp.WSServerHandshakeError as exc:
            self.refused += 1
            await self._deny(scope, send, exc.status if 400 <= exc.status <= 599 else 502)
            return
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.refused += 1
            log.info("origin WebSocket unavailable (%s): %s", type(exc).__name__, url)
            await self._deny(scope, send, 504 if isinstance(exc, asyncio.TimeoutError) else 502)
            return
        self.open += 1
        try:
            await send({"type": "websocket.accept", "subprotocol": ws.protocol})
            await self._relay(ws, receive, send)
        finally:
            self.open -= 1
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()

    async def _relay(self, ws: aiohttp.ClientWebSocketResponse, receive, send) -> None:
        async def to_origin() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    if message.get("text") is not None:
                        await ws.send_str(message["text"])
                    else:
                        await ws.send_bytes(message.get("bytes") or b"")
                elif message["type"] == "websocket.disconnect":
                    await ws.close(code=_close_code(message.get("code"), 1000))
                    return

        async def to_visitor() -> None:
            reason = ""
            while True:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    await send({"type": "websocket.send", "text": message.data})
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await send({"type": "websocket.send", "bytes": message.data})
                else:  # CLOSE (the origin's code and reason), CLOSING, CLOSED, ERROR
                    if message.type == aiohttp.WSMsgType.CLOSE and isinstance(message.extra, str):
                        reason = message.extra if len(message.extra.encode()) <= 123 else ""
                    break
            with contextlib.suppress(Exception):  # the visitor may be gone already
                await send({"type": "websocket.close", "code": _close_code(ws.close_code, 1011), "reason": reason})

        tasks = [asyncio.ensure_future(to_origin()), asyncio.ensure_future(to_visitor())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.info("WebSocket relay ended: %r", task.exception())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    async def _deny(scope, send, status: int) -> None:
        """Refuse the visitor's handshake with `status` (plain 403 where the server cannot say more)."""
        if "websocket.http.response" in (scope.get("extensions") or {}):
            body = f"{status} origin refused the WebSocket\n".encode() if status < 500 else f"{status} origin unavailable\n".encode()
            await send({"type": "websocket.http.response.start", "status": status,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

