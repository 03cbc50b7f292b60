"""A lean HTTP/1.1 client for the origin: an asyncio protocol, llhttp (httptools) for framing.

It does one thing: send the request it is given to the one configured origin
and hand back status, headers and the body as it arrives. Rules:

- **We send what we are given.** The caller's header list goes out in its
  order with nothing added, except `Transfer-Encoding: chunked` for a body of
  unknown length. A target or header with CR, LF or NUL is refused before a
  byte is written (no request splitting through us).
- **Framing is llhttp's, strict.** No leniencies are switched on: conflicting
  Content-Length, Content-Length with Transfer-Encoding, bad chunk sizes,
  obsolete line folding all fail the exchange (UpstreamError, a 502).
- **A connection is pooled again only when the exchange ended cleanly:** the
  response was read to its end, the request body was sent in full, both sides
  keep-alive, and not one stray byte followed the response. Anything else,
  a timeout, a cancelled caller, a response dropped half-read, closes it.
- **Retry:** a GET, HEAD or OPTIONS without body that fails on a reused
  connection before any byte of the answer arrived (the origin had closed it
  while idle) is sent once more on a fresh connection; nothing else is.
- **Timeouts:** `connect_timeout` to connect (502); `read_timeout` of silence
  while waiting for the headers (UpstreamTimeout, a 504) or for more of the
  body (UpstreamTimeout mid-body).
- **Bounded memory:** headers, trailers and chunk lines may take at most
  MAX_FRAMING bytes in a row without a byte of body between them (httptools
  would otherwise gather an endless header value whole before calling us).
- **Backpressure:** reading from the origin pauses while more than
  HIGH_WATER bytes of body wait for the caller, so a large download streams
  through at the visitor's pace and is never held whole.
- At most `max_connections` connections are busy at once; callers beyond
  that wait. Idle connections live for IDLE_SECONDS; a request with a body
  takes only one idle for less than BODY_REUSE_SECONDS, since a non-idempotent
  request cannot be retried when it meets a connection the origin just closed.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import AsyncIterator

import httptools

from proxy.errors import UpstreamError, UpstreamTimeout
from proxy.headers import Headers
from proxy.upstream import READ_CHUNK, RETRYABLE_METHODS
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
IDLE_SECONDS = 15.0  # aiohttp's keep-alive default; origins close theirs after 2-75 s
BODY_REUSE_SECONDS = 1.0
MAX_FRAMING = 256 * 1024  # nginx allows 4-8 KiB of response headers; real trailers and chunk lines are tiny

_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")


class _Stale(Exception):
    """The origin closed a reused connection before answering: safe to resend an idempotent request."""


def _request_head(method: str, target: str, headers: Headers, chunked: bool) -> bytes:
    if _BAD_TARGET.search(target) or not method.isalpha():
        raise UpstreamError("request target not sendable")
    lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), target.encode("latin-1"))]
    lines += [name + b": " + value for name, value in headers]
    if chunked:
        lines.append(b"transfer-encoding: chunked")
    block = b"\r\n".join(lines)
    # One pass for all fields: the only CR and LF are the ones we put between lines.
    n = len(lines) - 1
    if block.count(b"\n") != n or block.count(b"\r") != n or b"\0" in block:
        raise UpstreamError("request header not sendable (CR, LF or NUL)")
    return block + b"\r\n\r\n"


class _Response:
    """What the caller reads; fed by the connection while the exchange lasts."""

    __slots__ = ("status", "headers", "_conn", "_pieces", "_buffered", "_complete", "_error", "_headers_done")

    def __init__(self, conn: _Connection) -> None:
        self.status = 0
        self.headers: Headers = []
        self._conn: _Connection | None = conn  # None once the exchange has ended
        self._pieces: deque[bytes] = deque()
        self._buffered = 0
        self._complete = False
        self._error: BaseException | None = None
        self._headers_done = False

    async def read_chunk(self) -> bytes:
        while True:
            if self._pieces:
                return self._take()
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            conn = self._conn
            if conn is None:  # pragma: no cover - an ended exchange is complete or failed
                return b""
            await conn.wait("origin stopped sending")

    def _take(self) -> bytes:
        pieces = self._pieces
        piece = pieces.popleft()
        if len(piece) > READ_CHUNK:
            pieces.appendleft(piece[READ_CHUNK:])
            piece = piece[:READ_CHUNK]
        elif pieces and len(piece) + len(pieces[0]) <= READ_CHUNK:
            parts = [piece]
            size = len(piece)
            while pieces and size + len(pieces[0]) <= READ_CHUNK:
                nxt = pieces.popleft()
                parts.append(nxt)
                size += len(nxt)
            piece = b"".join(parts)
        self._buffered -= len(piece)
        conn = self._conn
        if conn is not None and conn.reading_paused and self._buffered <= LOW_WATER:
            conn.resume()
        return piece

    def at_eof(self) -> bool:
        return self._complete and not self._pieces

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    async def aclose(self) -> None:
        conn = self._conn
        if conn is not None and not self._complete:
            conn.close()  # dropped half-read: the rest of the body must never meet the next request
        self._pieces.clear()
        self._buffered = 0


class _Connection(asyncio.Protocol):
    """One connection to the origin; one exchange at a time, never pipelined."""

    def __init__(self, pool: HttptoolsUpstream, key: tuple) -> None:
        self._pool = pool
        self.key = key
        self._loop = pool.loop
        self._read_timeout = pool.read_timeout
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self.busy = False  # holds one of the pool's slots
        self.reading_paused = False
        self._write_paused = False
        self._drain: asyncio.Future | None = None
        self._waiter: asyncio.Future | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_io = 0.0
        self._parser = None
        self._response: _Response | None = None
        self._header_list: Headers = []
        self._is_head = False
        self._got_bytes = False
        self._framing = 0  # bytes received since the last byte of body
        self._informational = False
        self._ended = False  # the current response is complete
        self._stray = False  # bytes after it
        self._keep_alive = False
        self._body_sent = True
        self._body_task: asyncio.Task | None = None

    # ---------------------------------------------------------------- exchange

    async def exchange(self, method: str, head: bytes, body: AsyncIterator[bytes] | None,
                       chunked: bool, length: int | None) -> _Response:
        resp = _Response(self)
        self._response = resp
        self._parser = httptools.HttpResponseParser(self)
        self._header_list = []
        self._is_head = method == "HEAD"
        self._got_bytes = self._informational = self._ended = self._stray = False
        self._framing = 0
        self._body_sent = body is None
        self._last_io = self._loop.time()
        self.transport.write(head)  # type: ignore[union-attr]
        if body is not None:
            self._body_task = self._loop.create_task(self._send_body(body, chunked, length))
        while not resp._headers_done:
            if resp._error is not None:
                raise resp._error
            if resp._conn is None:  # pragma: no cover - an ended exchange without headers has an error
                raise UpstreamError("origin connection closed")
            await self.wait("origin did not answer in time")
        return resp

    async def _send_body(self, body: AsyncIterator[bytes], chunked: bool, length: int | None) -> None:
        sent = 0
        try:
            async for chunk in body:
                if self.closed:
                    return
                sent += len(chunk)
                if chunked:
                    self.transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))  # type: ignore[union-attr]
                else:
                    if length is not None and sent > length:
                        raise UpstreamError("request body longer than its Content-Length")
                    self.transport.write(chunk)  # type: ignore[union-attr]
                if self._write_paused:
                    self._drain = self._loop.create_future()
                    await self._drain
            if self.closed:
                return
            if chunked:
                self.transport.write(b"0\r\n\r\n")  # type: ignore[union-attr]
            elif length is not None and sent != length:
                raise UpstreamError("request body shorter than its Content-Length")
            self._body_sent = True
        except asyncio.CancelledError:
            raise
        except UpstreamError as exc:
            self._fail(exc)
        except Exception as exc:  # the visitor's upload broke: the origin must not see half a request reused
            self._fail(UpstreamError(f"request body failed: {type(exc).__name__}"))

    async def wait(self, timeout_message: str) -> None:
        """Until the parser has news for the exchange (or the read timeout, or a failure)."""
        fut = self._loop.create_future()
        self._waiter = fut
        if self._timer is None:
            self._timer = self._loop.call_at(self._last_io + self._read_timeout, self._on_timer, timeout_message)
        try:
            await fut
        except asyncio.CancelledError:
            self.close()
            raise

    def _wake(self) -> None:
        fut = self._waiter
        if fut is not None:
            self._waiter = None
            if not fut.done():
                fut.set_result(None)

    def _on_timer(self, message: str) -> None:
        self._timer = None
        if self._waiter is None or self._response is None:
            return
        due = self._last_io + self._read_timeout
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._on_timer, message)
            return
        self._fail(UpstreamTimeout(message))

    def _fail(self, exc: BaseException) -> None:
        resp = self._response
        if resp is not None and not resp._complete and resp._error is None:
            resp._error = exc
        self.close()

    def _finish(self) -> None:
        """The response is complete: detach it, then pool or close the connection."""
        resp = self._response
        self._response = None
        if resp is not None:
            resp._conn = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()
        if self._stray or not self._keep_alive or not self._body_sent or self.closed:
            self.close()
            return
        if self.reading_paused:
            self.resume()
        self._pool._checkin(self)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        resp = self._response
        if resp is not None:
            self._response = None
            resp._conn = None
            if not resp._complete and resp._error is None:
                resp._error = UpstreamError("origin connection closed")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = self._body_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        self._body_task = None
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._wake()
        self._pool._release(self)

    def resume(self) -> None:
        self.reading_paused = False
        self._last_io = self._loop.time()  # our pause was not the origin's silence
        if not self.closed:
            self.transport.resume_reading()  # type: ignore[union-attr]

    # ------------------------------------------------------- asyncio protocol

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._last_io = self._loop.time()
        if self._response is None:  # bytes while idle, or after the answer: the framing is off
            self._stray = True
            self.close()
            return
        self._got_bytes = True
        self._framing += len(data)
        try:
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("origin answered badly: unasked protocol switch"))
            return
        except httptools.HttpParserError as exc:
            if self._ended:  # garbage after a complete answer
                self._stray = True
            else:
                self._fail(UpstreamError(f"origin answered badly: {exc}"))
                return
        if self._ended:
            self._finish()  # closes instead of pooling when the body was not through or bytes strayed
        elif self._framing > MAX_FRAMING:
            self._fail(UpstreamError("origin answered badly: headers or framing too large"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        resp = self._response
        if resp is not None and not resp._complete and resp._error is None:
            if resp._headers_done and exc is None and self._until_close():
                resp._complete = True  # a body delimited by the end of the connection
                self._ended = True
            elif not self._got_bytes and self.reused:
                resp._error = _Stale()
            elif resp._headers_done:
                resp._error = UpstreamError("origin closed the connection mid-body")
            else:
                resp._error = UpstreamError("origin closed the connection")
        if self._response is not None:
            self._response._conn = None
            self._response = None
        self.close()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def _until_close(self) -> bool:
        if self._is_head:
            return False
        te = None
        for name, value in self._header_list:
            if name == b"content-length":
                return False
            if name == b"transfer-encoding":
                te = value
        return te is None or not te.rstrip().lower().endswith(b"chunked")

    # ------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        if self._ended:
            self._stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        resp = self._response
        if resp is not None and not resp._headers_done:  # trailers are dropped
            self._header_list.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        resp = self._response
        if resp is None or self._ended:
            return
        status = self._parser.get_status_code()  # type: ignore[union-attr]
        if status < 200:
            if status == 101:
                self._fail(UpstreamError("origin answered badly: unasked protocol switch"))
                return
            self._informational = True  # 100 Continue, 103 Early Hints: the answer follows
            self._header_list = []
            return
        resp.status = status
        resp.headers = self._header_list
        resp._headers_done = True
        if self._is_head:
            # llhttp cannot know this answered a HEAD: it has no body whatever its headers say.
            self._keep_alive = self._parser.should_keep_alive() and any(  # type: ignore[union-attr]
                n == b"content-length" for n, _ in self._header_list)
            resp._complete = True
            self._ended = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        resp = self._response
        if resp is None or self._ended:
            self._stray = True
            return
        self._framing = 0
        resp._pieces.append(body)
        resp._buffered += len(body)
        if resp._buffered > HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        resp = self._response
        if resp is None or self._ended:
            return
        if not resp._headers_done:  # pragma: no cover - llhttp completes no message without its headers
            self._fail(UpstreamError("origin answered badly: message without headers"))
            return
        self._keep_alive = self._parser.should_keep_alive()  # type: ignore[union-attr]
        resp._complete = True
        self._ended = True
        self._wake()


class HttptoolsUpstream:
    def __init__(self, *, connect_timeout: float, read_timeout: float, max_connections: int) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._max = max_connections
        self._busy = 0
        self._queue: deque[asyncio.Future] = deque()
        self._idle: dict[tuple, list[_Connection]] = {}
        self._all: set[_Connection] = set()
        self._base: tuple[str, tuple] | None = None
        self._ssl: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def send(self, method: str, url: str, headers: Headers, body: AsyncIterator[bytes] | None) -> _Response:
        if self._closed:
            raise UpstreamError("upstream client closed")
        key, target = self._split(url)
        length = None
        chunked = False
        if body is not None:
            for name, value in headers:
                if name == b"content-length":
                    try:
                        length = int(value)
                    except ValueError:
                        raise UpstreamError("request Content-Length not a number") from None
                    break
            chunked = length is None
        head = _request_head(method, target, headers, chunked)
        await self._acquire()
        # The slot is ours until a connection holds it (conn.busy); a failed connection gives it back.
        ours = True
        conn = None
        try:
            for attempt in (0, 1):
                conn = self._checkout(key, body is not None) if attempt == 0 else None
                if conn is None:
                    conn = await self._connect(key)
                ours = False
                try:
                    return await conn.exchange(method, head, body, chunked, length)
                except _Stale:
                    if attempt == 0 and body is None and method in RETRYABLE_METHODS:
                        await self._acquire()
                        ours = True
                        continue
                    raise UpstreamError("origin closed the connection") from None
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            if ours:
                self._give_back()
            elif conn is not None:
                conn.close()  # no-op when it already failed; else gives the slot back
            raise

    async def aclose(self) -> None:
        self._closed = True
        for conn in list(self._all):
            conn.close()
        self._idle.clear()

    # ------------------------------------------------------------- the pool

    async def _acquire(self) -> None:
        if self._busy < self._max and not self._queue:
            self._busy += 1
            return
        fut = self.loop.create_future()
        self._queue.append(fut)
        try:
            await fut  # the slot is handed over with the wake-up
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._give_back()
            else:
                try:
                    self._queue.remove(fut)
                except ValueError:
                    pass
            raise

    def _give_back(self) -> None:
        while self._queue:
            fut = self._queue.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes on
                return
        self._busy -= 1

    def _checkout(self, key: tuple, has_body: bool) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = self.loop.time()
        limit = BODY_REUSE_SECONDS if has_body else IDLE_SECONDS
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since > IDLE_SECONDS:
                conn.close()
                continue
            if now - conn.idle_since > limit:  # too old for a request that cannot be resent
                idle.append(conn)
                return None
            conn.busy = True
            conn.reused = True
            return conn
        return None

    def _checkin(self, conn: _Connection) -> None:
        conn.idle_since = self.loop.time()
        idle = self._idle.setdefault(conn.key, [])
        if self._closed or len(idle) >= self._max:
            conn.close()
            return
        idle.append(conn)
        self._release(conn)

    def _release(self, conn: _Connection) -> None:
        if conn.busy:
            conn.busy = False
            self._give_back()
        if conn.closed:
            self._all.discard(conn)

    async def _connect(self, key: tuple) -> _Connection:
        scheme, host, port = key
        ctx = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ctx = self._ssl
        loop = self.loop
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, key), host, port, ssl=ctx, server_hostname=host if ctx else None
                )
        except TimeoutError:
            raise UpstreamError("origin unreachable: connect timeout") from None
        except OSError as exc:
            raise UpstreamError(f"origin unreachable: {type(exc).__name__}") from None
        conn.busy = True
        self._all.add(conn)
        return conn

    def _split(self, url: str) -> tuple[tuple, str]:
        """(scheme, host, port) and the request target; the origin's part is parsed once."""
        base = self._base
        if base is not None and url.startswith(base[0]):
            rest = url[len(base[0]):]
            if not rest or rest[0] in "/?":
                return base[1], (rest if rest[:1] == "/" else "/" + rest)
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("http", "https"):
            raise UpstreamError(f"origin URL not http(s): {url[:60]!r}")
        cut = len(rest)
        for ch in "/?#":
            i = rest.find(ch)
            if 0 <= i < cut:
                cut = i
        netloc = rest[:cut]
        if "@" in netloc:
            raise UpstreamError("origin URL with credentials is not supported")
        if netloc.startswith("["):
            end = netloc.find("]")
            host, port_s = netloc[1:end], netloc[end + 2:]
        else:
            host, _, port_s = netloc.partition(":")
        port = int(port_s) if port_s else (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        self._base = (scheme + "://" + netloc, key)
        target = rest[cut:]
        return key, (target if target[:1] == "/" else "/" + target)
