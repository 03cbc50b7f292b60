"""The HTTP protocol Tailor serves with: uvicorn's httptools protocol plus deadlines for slow clients.

Rule: a client has `header_timeout` seconds from opening its connection, or
from the first byte of its next request on a kept-alive connection, to send
a complete request head; and, while it sends a request body, at most
`body_timeout` seconds between two reads that bring body bytes (nginx's
client_header_timeout and client_body_timeout, 60 s each by default). Past
either, the connection is closed: the application sees a disconnect.
uvicorn closes idle kept-alive connections but waits forever for heads and
bodies that trickle in, so a few hundred slow clients (slowloris, or a
stalled upload) could hold every connection a worker has.

A body is never the client's fault while Tailor holds it back: reading
paused by flow control (the application, or the origin behind it, is slower
than the client) or `Expect: 100-continue` not yet answered. Then the body
deadline starts again.

The deadlines are process-wide (uvicorn builds the protocol, and with
--workers pickles its class by name): set them once at start with
`set_client_timeouts()`, before serving.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT = 20.0
DEFAULT_BODY_TIMEOUT = 60.0


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout = DEFAULT_HEADER_TIMEOUT
    body_timeout = DEFAULT_BODY_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _body_seen = 0.0  # loop time the body last moved (bytes came, or we held it back)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        self._disarm_body()
        if not (self.parser.should_upgrade() and self._should_upgrade()):  # a body may follow (none: disarmed at once)
            self._body_seen = self.loop.time()
            self._body_timer = self.loop.call_later(self.body_timeout, self._body_expired)

    def on_body(self, body: bytes) -> None:
        self._body_seen = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm_body()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _disarm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        cycle = self.cycle
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            self._body_seen = now  # we hold the body back, not the client
        idle = now - self._body_seen
        if idle < self.body_timeout:
            self._body_timer = self.loop.call_later(self.body_timeout - idle, self._body_expired)
            return
        self.transport.close()


def set_client_timeouts(header_seconds: float, body_seconds: float = DEFAULT_BODY_TIMEOUT) -> None:
    HeaderDeadlineProtocol.header_timeout = header_seconds
    HeaderDeadlineProtocol.body_timeout = body_seconds
