"""The HTTP protocol Tailor serves with: uvicorn's httptools protocol plus a deadline for request heads.

Rule: a client has `header_timeout` seconds from opening its connection, or
from the first byte of its next request on a kept-alive connection, to send
a complete request head; then the connection is closed. uvicorn closes idle
kept-alive connections but waits forever for headers that trickle in, so a
few hundred slow clients (slowloris) could hold every connection a worker
has. nginx's client_header_timeout does the same (60 s by default).

The deadline is process-wide (uvicorn builds the protocol, and with
--workers pickles its class by name): set it once at start with
`set_header_timeout()`, before serving.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT = 20.0


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout = DEFAULT_HEADER_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None

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

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def set_header_timeout(seconds: float) -> None:
    HeaderDeadlineProtocol.header_timeout = seconds
