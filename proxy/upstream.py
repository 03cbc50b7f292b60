"""The one shared client Tailor uses to talk to the origin.

Rule: exactly one client per process, created in the lifespan and closed
with it. It never stores cookies (visitors' cookies must never mix), never
follows redirects, never reads proxy settings from the environment, and
never decodes bodies (bytes pass through as the origin sent them). Library
errors are translated here, once, into UpstreamError / UpstreamTimeout.

Four interchangeable transports, chosen by `[proxy] upstream_client`:
`httptools` (default: Tailor's own lean HTTP/1.1 client on llhttp, in
proxy/upstream_httptools.py; fastest in bench/bench_proxy.py), `aiohttp`,
`httpx-aiohttp` and `httpx` (httpx's own pool; slow under concurrency,
encode/httpx#3215).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
from collections.abc import AsyncIterator
from typing import Protocol

from proxy.errors import UpstreamError, UpstreamTimeout
from proxy.headers import Headers

READ_CHUNK = 64 * 1024
# Sent again on a fresh connection when a pooled one turns out closed (only without a body): every client's rule.
RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UpstreamResponse(Protocol):
    status: int
    headers: Headers  # lower-case names, duplicates kept (Set-Cookie)

    async def read_chunk(self) -> bytes:
        """The next piece of the body (at most READ_CHUNK bytes); b"" once it is complete."""
        ...

    def at_eof(self) -> bool:
        """True when the whole body has been read (False when not known yet)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def send(self, method: str, url: str, headers: Headers, body: AsyncIterator[bytes] | None) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


def _str_headers(headers: Headers) -> list[tuple[str, str]]:
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]


# --------------------------------------------------------------------- aiohttp

# Headers aiohttp adds on its own when a request lacks them; the client's headers are all we send.
_AUTO_HEADERS = ((b"user-agent", "User-Agent"), (b"accept", "Accept"), (b"accept-encoding", "Accept-Encoding"))


def _auto_headers_to_skip(headers: Headers, has_body: bool) -> tuple[str, ...] | None:
    """The auto headers this request lacks (None when it has them all: aiohttp's fast path).

    A session-wide skip list made aiohttp build and copy a header multidict on
    every request; a browser's page request carries all three itself.
    """
    present = {n for n, _ in headers}
    skip = tuple(name for raw, name in _AUTO_HEADERS if raw not in present)
    if has_body and b"content-type" not in present:
        skip += ("Content-Type",)
    return skip or None



def _aiohttp_errors() -> type[Exception]:
    import aiohttp

    return aiohttp.ClientError


class _AiohttpResponse:
    def __init__(self, resp) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = [(n.lower(), v) for n, v in resp.raw_headers]
        self._content = resp.content

    async def read_chunk(self) -> bytes:
        # A plain read, not an async generator: the event loop registers every
        # async generator in a WeakSet and finalizes it, a cost paid per response.
        try:
            return await self._content.read(READ_CHUNK)
        except asyncio.TimeoutError as exc:
            raise UpstreamTimeout("origin stopped sending") from exc
        except _aiohttp_errors() as exc:
            raise UpstreamError(f"origin body failed: {type(exc).__name__}") from exc

    def at_eof(self) -> bool:
        return self._content.at_eof()

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    async def aclose(self) -> None:
        self._resp.release()


class AiohttpUpstream:
    def __init__(self, *, connect_timeout: float, read_timeout: float, max_connections: int) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections, ttl_dns_cache=60),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout),
            trust_env=False,
        )

    async def send(self, method: str, url: str, headers: Headers, body: AsyncIterator[bytes] | None) -> UpstreamResponse:
        aiohttp = self._aiohttp
        skip = _auto_headers_to_skip(headers, body is not None)
        for attempt in (0, 1):
            try:
                resp = await self._session.request(
                    method, url, headers=_str_headers(headers), data=body, allow_redirects=False, compress=None,
                    skip_auto_headers=skip,
                )
                return _AiohttpResponse(resp)
            except aiohttp.ServerDisconnectedError as exc:
                # A pooled keep-alive connection the origin had already closed:
                # retry once, only when no request body was (or could be) sent.
                if attempt == 0 and body is None and method in RETRYABLE_METHODS:
                    continue
                raise UpstreamError("origin closed the connection") from exc
            except (aiohttp.ClientConnectorError, aiohttp.ClientConnectionError) as exc:
                if isinstance(exc, aiohttp.ServerTimeoutError):
                    raise UpstreamTimeout("origin did not answer in time") from exc
                raise UpstreamError(f"origin unreachable: {type(exc).__name__}") from exc
            except asyncio.TimeoutError as exc:
                raise UpstreamTimeout("origin did not answer in time") from exc
            except aiohttp.ClientError as exc:
                raise UpstreamError(f"origin answered badly: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self._session.close()


# ----------------------------------------------------------------------- httpx


class _HttpxResponse:
    def __init__(self, resp) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = [(n.lower(), v) for n, v in resp.headers.raw]
        self._raw = resp.aiter_raw(READ_CHUNK)
        self._done = False

    async def read_chunk(self) -> bytes:
        import httpx

        if self._done:
            return b""
        try:
            chunk = b""
            while not chunk:  # an empty piece is not the end; exhaustion is
                piece = await anext(self._raw, None)
                if piece is None:
                    break
                chunk = piece
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("origin stopped sending") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"origin body failed: {type(exc).__name__}") from exc
        self._done = not chunk
        return chunk

    def at_eof(self) -> bool:
        return self._done

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    async def aclose(self) -> None:
        await self._resp.aclose()


class HttpxUpstream:
    def __init__(self, *, connect_timeout: float, read_timeout: float, max_connections: int, use_aiohttp: bool) -> None:
        import httpx

        self._httpx = httpx
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout)
        transport = None
        if use_aiohttp:
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport()
        no_cookies = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.AsyncClient(
            transport=transport,
            limits=limits,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            cookies=no_cookies,
        )

    async def send(self, method: str, url: str, headers: Headers, body: AsyncIterator[bytes] | None) -> UpstreamResponse:
        httpx = self._httpx
        request = self._client.build_request(method, url, headers=headers, content=body)
        if body is None:
            # httpx would add its own defaults; the client's headers are all we send.
            for name in ("accept", "accept-encoding", "user-agent"):
                if not any(n == name.encode() for n, _ in headers):
                    request.headers.pop(name, None)
        try:
            try:
                resp = await self._client.send(request, stream=True)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                # A pooled keep-alive connection the origin had already closed ("server disconnected
                # without sending a response"): retry once on a fresh connection, only when no request
                # body was (or could be) sent, as aiohttp itself does.
                if body is not None or method not in RETRYABLE_METHODS:
                    raise
                resp = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                raise UpstreamError("origin unreachable: connect timeout") from exc
            raise UpstreamTimeout("origin did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"origin unreachable: {type(exc).__name__}") from exc
        return _HttpxResponse(resp)

    async def aclose(self) -> None:
        await self._client.aclose()


def create_upstream(kind: str, *, connect_timeout: float, read_timeout: float, max_connections: int) -> Upstream:
    if kind == "httptools":
        from proxy.upstream_httptools import HttptoolsUpstream

        return HttptoolsUpstream(connect_timeout=connect_timeout, read_timeout=read_timeout, max_connections=max_connections)
    if kind == "aiohttp":
        return AiohttpUpstream(connect_timeout=connect_timeout, read_timeout=read_timeout, max_connections=max_connections)
    if kind in ("httpx", "httpx-aiohttp"):
        return HttpxUpstream(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            use_aiohttp=kind == "httpx-aiohttp",
        )
    raise ValueError(f"unknown upstream client {kind!r}")
