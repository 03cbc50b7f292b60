"""Clients at the edge, through `tailor serve` as an operator runs it: slow heads and bodies, pipelining, Expect, h2c.

The request-head deadline and the body's are set to 0.5 s here (20 and 60 s
by default), so the waits below are real but short: the deadlines are the
server's own timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from examples.shop.app import create_app as create_shop
from tests.servers import free_port, serve

DEADLINE = 0.5


@contextlib.contextmanager
def tailor_serve(origin: str, tmp) -> Iterator[int]:
    """`tailor serve` in a process of its own, in front of `origin`, with the short deadlines; yields its port."""
    (tmp / "tailor.toml").write_text(f"[proxy]\nclient_header_timeout = {DEADLINE}\nclient_body_timeout = {DEADLINE}\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve", "--origin", origin, "--port", str(port), "--config", str(tmp / "tailor.toml"),
         "--data-dir", str(tmp / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_tailor/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("tailor did not start: " + proc.stdout.read1().decode(errors="replace"))
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


@pytest.fixture(scope="module")
def tailor(tmp_path_factory):
    with serve(create_shop()) as shop, tailor_serve(shop, tmp_path_factory.mktemp("slow")) as port:
        yield port


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    return s


def read_until_closed(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def read_response(s: socket.socket) -> bytes:
    """One whole answer with a Content-Length (what /_tailor/health sends)."""
    out = b""
    while b"\r\n\r\n" not in out:
        out += s.recv(65536)
    head, _, body = out.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(tailor):
    s = connect(tailor)
    started = time.monotonic()
    assert read_until_closed(s) == b""
    assert DEADLINE * 0.8 <= time.monotonic() - started < 5


def test_a_head_that_trickles_in_is_cut_off(tailor):
    s = connect(tailor)
    started = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: shop\r\n")
    try:
        for i in range(40):  # one header every 0.1 s would never end on its own
            s.sendall(b"X-Slow-%d: 1\r\n" % i)
            time.sleep(0.1)
    except OSError:
        pass  # closed under us: what we want
    assert read_until_closed(s) == b""
    assert time.monotonic() - started < 3


def test_a_kept_alive_connection_gets_a_fresh_deadline_per_request(tailor):
    s = connect(tailor)
    for _ in range(3):  # three requests over 0.9 s on one connection: each head is quick, so none is cut off
        s.sendall(b"GET /_tailor/health HTTP/1.1\r\nHost: shop\r\n\r\n")
        answer = read_response(s)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        time.sleep(0.3)


def test_pipelined_requests_are_answered_in_order(tailor):
    s = connect(tailor)
    s.sendall(b"GET /_tailor/health HTTP/1.1\r\nHost: shop\r\n\r\nGET /nope-404 HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
    answers = read_until_closed(s)
    first, second = answers.index(b"HTTP/1.1 200"), answers.index(b"HTTP/1.1 404")
    assert first < second


def test_h2c_upgrade_is_answered_as_http_1_1(tailor):
    s = connect(tailor)
    s.sendall(b"GET /_tailor/health HTTP/1.1\r\nHost: shop\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
              b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: close\r\n\r\n")
    answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 200") and b"101" not in answer.split(b"\r\n")[0]


def test_expect_100_continue_upload_goes_through(tailor):
    with httpx.Client(base_url=f"http://127.0.0.1:{tailor}", trust_env=False) as c:
        r = c.post("/search", content=b"q=tent", headers={"expect": "100-continue", "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code < 500


def test_a_body_that_stops_coming_is_cut_off(tailor):
    s = connect(tailor)
    started = time.monotonic()
    s.sendall(b"POST /cart/add HTTP/1.1\r\nHost: shop\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 1000\r\n\r\nitem=tent")
    answer = read_until_closed(s)  # the 991 bytes never come: no answer, the connection closes
    assert answer == b""
    assert DEADLINE * 0.8 <= time.monotonic() - started < 5


def test_a_body_that_trickles_in_steadily_goes_through(tailor):
    s = connect(tailor)
    body = b"item=tent-2p&qty=1&padding=" + b"x" * 12
    s.sendall(b"POST /cart/add HTTP/1.1\r\nHost: shop\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    for i in range(0, len(body), 4):  # 1.0 s in all, never more than 0.1 s (a fifth of the deadline) between two pieces
        s.sendall(body[i : i + 4])
        time.sleep(0.1)
    answer = read_until_closed(s)  # the whole body reached the origin, which answers (403: the shop wants its CSRF token)
    assert answer.startswith(b"HTTP/1.1 ") and int(answer.split()[1]) < 500, answer[:200]


async def slow_reader(scope, receive, send):
    """An origin that takes 4 deadlines to start reading a request body, then counts it."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await asyncio.sleep(4 * DEADLINE)
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_a_body_the_origin_is_slow_to_take_is_not_cut_off(tmp_path):
    """Tailor stops reading while the origin does not take the body (flow control): those pauses are not the client's."""
    body = b"x" * (8 * 1024 * 1024)  # far more than the socket buffers between client, Tailor and origin hold
    with serve(slow_reader) as origin, tailor_serve(origin, tmp_path) as port:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30) as c:
            r = c.post("/upload", content=body)
    assert r.status_code == 200 and r.text == str(len(body))
