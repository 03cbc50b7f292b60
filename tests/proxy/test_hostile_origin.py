"""An origin that breaks HTTP: Tailor answers clearly and never passes a broken body off as whole."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import httpx
import pytest

from proxy.app import create_app
from proxy.settings import load_settings
from tests.servers import bound_socket, serve

RAW = {
    b"/truncated.html": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html><head></head><body>only part",
    b"/truncated.bin": b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100,
    b"/cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"/garbage": b"NOT HTTP AT ALL\r\n\r\n",
    b"/bad-chunk": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
}


@contextlib.contextmanager
def raw_origin():
    sock = bound_socket()
    loop = asyncio.new_event_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        path = line.split(b" ")[1] if b" " in line else b"/"
        writer.write(RAW.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        await writer.drain()
        writer.close()

    async def start():
        return await asyncio.start_server(handle, sock=sock)

    server = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.fixture(scope="module")
def tailor(tmp_path_factory):
    with raw_origin() as origin:
        settings = load_settings(None, origin=origin, data_dir=str(tmp_path_factory.mktemp("d")), read_timeout=2.0)
        with serve(create_app(settings, personalize=False)) as url:
            yield url


@pytest.mark.parametrize("path", ["/truncated.html", "/cl-and-te", "/garbage", "/bad-chunk"])
def test_broken_html_answers_get_a_clean_502(tailor, path):
    r = httpx.get(tailor + path, headers={"accept": "text/html"})
    assert r.status_code == 502
    assert b"not reachable" in r.content


def test_truncated_download_is_not_passed_off_as_complete(tailor):
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(tailor + "/truncated.bin")


@contextlib.contextmanager
def one_request_per_connection_origin():
    """Keeps each connection open after its first answer (HTTP/1.1 keep-alive) but closes it, unanswered,
    when a second request arrives on it: what an origin whose idle timeout just expired does."""
    sock = bound_socket()
    loop = asyncio.new_event_loop()
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        while True:
            line = await reader.readline()
            if not line:
                break
            length = 0
            while (header := await reader.readline()) not in (b"\r\n", b""):
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            if length:
                await reader.readexactly(length)
            if not first:
                break  # closed without an answer
            seen.append(line.split(b" ")[0])
            first = False
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = loop.run_until_complete(asyncio.start_server(handle, sock=sock))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", seen
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.parametrize("client", ["httptools", "aiohttp", "httpx-aiohttp", "httpx"])
def test_a_stale_pooled_connection_is_retried_once_for_idempotent_requests_only(tmp_path, client):
    with one_request_per_connection_origin() as (origin, seen):
        settings = load_settings(None, origin=origin, data_dir=str(tmp_path), read_timeout=2.0, upstream_client=client)
        with serve(create_app(settings, personalize=False)) as url, httpx.Client(base_url=url, trust_env=False) as c:
            for _ in range(3):  # each GET after the first lands on a connection the origin drops: retried on a new one
                r = c.get("/a.txt")
                assert (r.status_code, r.text) == (200, "ok")
            assert seen == [b"GET"] * 3
            r = c.post("/form", content=b"x=1")  # may have reached the origin: never sent twice
            assert r.status_code == 502
            assert seen == [b"GET"] * 3
