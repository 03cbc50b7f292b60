"""Tailor's own HTTP/1.1 client against an origin whose every byte the test writes.

Each test runs one event loop with a raw TCP origin on 127.0.0.1:0 that
answers each request it reads with the next scripted reply. What is checked
is what a proxy must promise: no answer ever meets the wrong request, a
connection is reused only after a clean exchange, framing errors fail, and
the pool and read pausing hold their limits.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
import trustme

from proxy.errors import UpstreamError, UpstreamTimeout
from proxy.upstream_httptools import HIGH_WATER, HttptoolsUpstream

CLOSE = object()  # script: close the connection instead of answering


class ScriptedOrigin:
    def __init__(self, *replies, tls: ssl.SSLContext | None = None) -> None:
        self.replies = list(replies)
        self.tls = tls
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.active = 0
        self.max_active = 0

    async def __aenter__(self) -> ScriptedOrigin:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        scheme, host = ("https", "localhost") if self.tls else ("http", "127.0.0.1")
        self.url = "%s://%s:%d" % (scheme, host, self.server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            while self.replies:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                body = await _read_body(reader, head)
                self.requests.append((head, body))
                reply = self.replies.pop(0)
                if reply is CLOSE:
                    return
                if callable(reply):
                    if await reply(writer) is CLOSE:
                        return
                else:
                    writer.write(reply)
                    await writer.drain()
        finally:
            self.active -= 1
            writer.close()


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        out = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            out += await reader.readexactly(size + 2)
            if size == 0:
                return out
    if b"content-length:" in lower:
        n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        return await reader.readexactly(n)
    return b""


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def then_close(answer: bytes):
    async def reply(writer):
        writer.write(answer)
        await writer.drain()
        return CLOSE
    return reply


def run(coro):
    return asyncio.run(coro)


def client(**kw) -> HttptoolsUpstream:
    return HttptoolsUpstream(connect_timeout=kw.get("connect_timeout", 2.0), read_timeout=kw.get("read_timeout", 5.0),
                             max_connections=kw.get("max_connections", 8))


HOST = [(b"host", b"origin.test")]


async def fetch(up: HttptoolsUpstream, url: str, method: str = "GET", headers=HOST, body=None) -> tuple[int, list, bytes]:
    resp = await up.send(method, url, list(headers), body)
    try:
        out = b""
        while chunk := await resp.read_chunk():
            out += chunk
        return resp.status, resp.headers, out
    finally:
        await resp.aclose()


async def pieces(*chunks: bytes):
    for c in chunks:
        yield c


def test_sends_exactly_the_callers_head_and_reuses_the_connection():
    async def main():
        async with ScriptedOrigin(ok(b"one"), ok(b"two")) as origin:
            up = client()
            headers = [(b"host", b"origin.test"), (b"x-a", b"1"), (b"X-Case", b"Kept")]
            assert (await fetch(up, origin.url + "/p?q=1", headers=headers))[2] == b"one"
            assert (await fetch(up, origin.url + "/two"))[2] == b"two"
            await up.aclose()
            assert origin.requests[0][0] == b"GET /p?q=1 HTTP/1.1\r\nhost: origin.test\r\nx-a: 1\r\nX-Case: Kept\r\n\r\n"
            assert origin.connections == 1
    run(main())


@pytest.mark.parametrize("value", [b"a\r\nx-injected: 1", b"a\nb", b"a\rb", b"a\0b"])
def test_header_with_cr_lf_or_nul_is_refused_before_a_byte_is_sent(value):
    async def main():
        async with ScriptedOrigin(ok()) as origin:
            up = client()
            with pytest.raises(UpstreamError):
                await up.send("GET", origin.url + "/", [*HOST, (b"x-v", value)], None)
            with pytest.raises(UpstreamError):
                await up.send("GET", origin.url + "/a b", HOST, None)
            assert (await fetch(up, origin.url + "/"))[2] == b"ok"  # the slot was given back
            await up.aclose()
            assert len(origin.requests) == 1 and b"x-v" not in origin.requests[0][0]
    run(main())


def test_informational_answers_are_skipped():
    async def main():
        early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
        async with ScriptedOrigin(early + ok(b"final", b"x-real: 1\r\n")) as origin:
            up = client()
            status, headers, body = await fetch(up, origin.url + "/")
            await up.aclose()
            assert (status, body) == (200, b"final")
            assert (b"x-real", b"1") in headers and not any(n == b"link" for n, _ in headers)
    run(main())


def test_unasked_protocol_switch_fails():
    async def main():
        async with ScriptedOrigin(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\nxx") as origin:
            up = client()
            with pytest.raises(UpstreamError):
                await fetch(up, origin.url + "/")
            await up.aclose()
    run(main())


def test_head_answer_ends_at_its_headers_and_the_connection_is_reused():
    async def main():
        async with ScriptedOrigin(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", ok(b"after")) as origin:
            up = client()
            status, headers, body = await fetch(up, origin.url + "/", method="HEAD")
            assert (status, body) == (200, b"") and (b"content-length", b"5000") in headers
            assert (await fetch(up, origin.url + "/"))[2] == b"after"
            await up.aclose()
            assert origin.connections == 1
    run(main())


@pytest.mark.parametrize("first", [
    ok(b"ok") + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged",  # a second answer nobody asked for
    ok(b"ok") + b"garbage",
    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",  # to a HEAD: a body after all
])
def test_bytes_after_an_answer_retire_the_connection(first):
    async def main():
        async with ScriptedOrigin(first, ok(b"right")) as origin:
            up = client()
            method = "HEAD" if first.endswith(b"body") else "GET"
            await fetch(up, origin.url + "/", method=method)
            assert (await fetch(up, origin.url + "/next"))[2] == b"right"
            await up.aclose()
            assert origin.connections == 2
    run(main())


def test_stray_bytes_on_an_idle_connection_retire_it():
    async def main():
        async def answer_then_stray(writer):
            writer.write(ok(b"ok"))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(ok(b"forged"))
            await writer.drain()

        async with ScriptedOrigin(answer_then_stray, ok(b"right")) as origin:
            up = client()
            await fetch(up, origin.url + "/")
            await asyncio.sleep(0.1)
            assert (await fetch(up, origin.url + "/next"))[2] == b"right"
            await up.aclose()
            assert origin.connections == 2
    run(main())


def test_body_until_close_is_complete_and_not_reused():
    async def main():
        async with ScriptedOrigin(then_close(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end"), ok(b"fresh")) as origin:
            up = client()
            assert (await fetch(up, origin.url + "/"))[2] == b"to the end"
            assert (await fetch(up, origin.url + "/"))[2] == b"fresh"
            await up.aclose()
            assert origin.connections == 2
    run(main())


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 1\r\n\r\na",
    b"NOT HTTP AT ALL\r\n\r\n",
])
def test_broken_framing_fails_instead_of_passing_for_complete(answer):
    async def main():
        async with ScriptedOrigin(then_close(answer)) as origin:
            up = client()
            with pytest.raises(UpstreamError):
                await fetch(up, origin.url + "/")
            await up.aclose()
    run(main())


@pytest.mark.parametrize("endless", [
    b"HTTP/1.1 200 OK\r\nX-Big: ",  # one header value without end
    b"HTTP/1.1 200 OK\r\n",  # header after header
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Trailer: ",  # a trailer without end
])
def test_endless_headers_or_trailers_fail_with_bounded_memory(endless):
    async def main():
        fed = 0

        async def flood(writer):
            nonlocal fed
            writer.write(endless)
            line = b"X-Filler: " + b"f" * 1000 + b"\r\n" if endless.endswith(b"OK\r\n") else b"v" * 1024
            while fed < 64 * 1024 * 1024:
                writer.write(line * 64)
                fed += len(line) * 64
                try:
                    await writer.drain()
                except ConnectionError:
                    return CLOSE
            return CLOSE

        async with ScriptedOrigin(flood) as origin:
            up = client()
            with pytest.raises(UpstreamError, match="too large"):
                await fetch(up, origin.url + "/")
            await up.aclose()
        assert fed < 16 * 1024 * 1024  # refused long before the 64 MB were through
    run(main())


def test_silent_origin_times_out_waiting_for_headers_and_mid_body():
    async def main():
        async def silent(writer):
            await asyncio.sleep(5)

        async def half(writer):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            await writer.drain()
            await asyncio.sleep(5)

        async with ScriptedOrigin(silent) as origin:
            up = client(read_timeout=0.2)
            with pytest.raises(UpstreamTimeout):
                await fetch(up, origin.url + "/")
            await up.aclose()
        async with ScriptedOrigin(half) as origin:
            up = client(read_timeout=0.2)
            resp = await up.send("GET", origin.url + "/", HOST, None)
            assert await resp.read_chunk() == b"abc"
            with pytest.raises(UpstreamTimeout):
                await resp.read_chunk()
            await resp.aclose()
            await up.aclose()
    run(main())


def test_chunked_and_sized_uploads_are_framed_right():
    async def main():
        async with ScriptedOrigin(ok(b"a"), ok(b"b")) as origin:
            up = client()
            await fetch(up, origin.url + "/u", "POST", body=pieces(b"hello ", b"world"))
            await fetch(up, origin.url + "/u", "POST", headers=[*HOST, (b"content-length", b"11")], body=pieces(b"hello ", b"world"))
            await up.aclose()
            (h1, b1), (h2, b2) = origin.requests
            assert b"transfer-encoding: chunked" in h1 and b1 == b"hello \r\nworld\r\n\r\n"
            assert b"transfer-encoding" not in h2 and b2 == b"hello world"
    run(main())


def test_upload_longer_than_its_length_never_reaches_the_origin_as_a_second_request():
    async def main():
        async with ScriptedOrigin(ok(b"a"), ok(b"b")) as origin:
            up = client()
            smuggle = b"GET /admin HTTP/1.1\r\nhost: x\r\n\r\n"
            with pytest.raises(UpstreamError):
                await fetch(up, origin.url + "/u", "POST", headers=[*HOST, (b"content-length", b"5")], body=pieces(b"hello", smuggle))
            assert (await fetch(up, origin.url + "/next"))[2] in (b"a", b"b")
            await up.aclose()
            assert not any(h.startswith(b"GET /admin") for h, _ in origin.requests)
    run(main())


def test_a_broken_upload_closes_the_connection():
    async def main():
        async def broken():
            yield b"part"
            raise UpstreamError("client went away while uploading")

        async with ScriptedOrigin(ok(b"a"), ok(b"b")) as origin:
            up = client()
            with pytest.raises(UpstreamError):
                await fetch(up, origin.url + "/u", "POST", body=broken())
            assert (await fetch(up, origin.url + "/next"))[2] in (b"a", b"b")
            await up.aclose()
            assert origin.connections == 2
    run(main())


def test_never_more_busy_connections_than_the_limit():
    async def main():
        async def slow(writer):
            await asyncio.sleep(0.05)
            writer.write(ok(b"s"))
            await writer.drain()

        async with ScriptedOrigin(*[slow] * 6) as origin:
            up = client(max_connections=2)
            results = await asyncio.gather(*(fetch(up, origin.url + f"/{i}") for i in range(6)))
            await up.aclose()
            assert [r[2] for r in results] == [b"s"] * 6
            assert origin.max_active <= 2
    run(main())


def test_a_caller_that_stops_reading_pauses_the_origin():
    async def main():
        sent = 0
        blocked = asyncio.Event()

        async def flood(writer):
            nonlocal sent
            total = 64 * 1024 * 1024
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
            piece = b"x" * 65536
            writer.transport.set_write_buffer_limits(high=65536)
            while sent < total:
                writer.write(piece)
                sent += len(piece)
                try:
                    await asyncio.wait_for(writer.drain(), 0.5)
                except TimeoutError:
                    blocked.set()  # nobody reads: the kernel buffers and ours are full
                    await asyncio.sleep(10)
            return CLOSE

        async with ScriptedOrigin(flood) as origin:
            up = client()
            resp = await up.send("GET", origin.url + "/big", HOST, None)
            assert await resp.read_chunk()
            await asyncio.wait_for(blocked.wait(), 10)
            # What got out of the origin: our buffer (about HIGH_WATER) plus the kernel's socket buffers.
            kernel = 2 * 8 * 1024 * 1024
            assert sent < HIGH_WATER + 65536 + kernel
            got = 0
            for _ in range(50):
                got += len(await resp.read_chunk())
            assert got > 0
            await resp.aclose()
            await up.aclose()
    run(main())


def test_a_response_dropped_half_read_is_never_reused():
    async def main():
        big = b"y" * 300_000
        async with ScriptedOrigin(ok(big), ok(b"next")) as origin:
            up = client()
            resp = await up.send("GET", origin.url + "/", HOST, None)
            await resp.read_chunk()
            await resp.aclose()
            assert (await fetch(up, origin.url + "/2"))[2] == b"next"
            await up.aclose()
            assert origin.connections == 2
    run(main())


def test_origin_refusing_connections_is_an_upstream_error():
    async def main():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        up = client()
        with pytest.raises(UpstreamError) as info:
            await up.send("GET", f"http://127.0.0.1:{port}/", HOST, None)
        assert not isinstance(info.value, UpstreamTimeout)
        await up.aclose()
    run(main())


def test_https_origin_is_verified_and_its_connection_reused(tmp_path, monkeypatch):
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def main(trust: bool):
        if trust:  # how an operator adds a private CA: OpenSSL's own variable, read when the client first connects
            monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        async with ScriptedOrigin(ok(b"one"), ok(b"two"), tls=server_ctx) as origin:
            up = client()
            try:
                if not trust:
                    with pytest.raises(UpstreamError):
                        await fetch(up, origin.url + "/")
                    return
                assert (await fetch(up, origin.url + "/a"))[2] == b"one"
                assert (await fetch(up, origin.url + "/b"))[2] == b"two"
                assert origin.connections == 1
            finally:
                await up.aclose()

    run(main(trust=False))
    run(main(trust=True))
