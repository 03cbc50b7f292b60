"""Clients at the edge, through `tailor serve` as an operator runs it: slow heads, pipelining, Expect, h2c.

The request-head deadline is set to 0.5 s here (20 s by default), so the
waits below are real but short: the deadline is the server's own timer.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from examples.shop.app import create_app as create_shop
from tests.servers import free_port, serve

DEADLINE = 0.5


@pytest.fixture(scope="module")
def tailor(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slow")
    (tmp / "tailor.toml").write_text(f"[proxy]\nclient_header_timeout = {DEADLINE}\n")
    with serve(create_shop()) as shop:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--origin", shop, "--port", str(port), "--config", str(tmp / "tailor.toml"),
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
