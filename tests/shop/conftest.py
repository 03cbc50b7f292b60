"""Fixtures: the real shop under uvicorn on 127.0.0.1, port 0, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from selectolax.lexbor import LexborHTMLParser
from starlette.applications import Starlette

from examples.shop.app import create_app


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("shop did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def shop_url() -> Iterator[str]:
    with serve(create_app(download_rows=20_000)) as url:
        yield url


@pytest.fixture
def client(shop_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop_url, timeout=10) as c:
        yield c


def parse(response: httpx.Response) -> LexborHTMLParser:
    return LexborHTMLParser(response.text)


def form_token(client: httpx.Client, path: str = "/login") -> str:
    """The CSRF token as the shop renders it into its forms (after a GET of `path`)."""
    page = parse(client.get(path))
    node = page.css_first('input[name="csrf"]')
    assert node is not None, f"no CSRF field on {path}"
    return node.attributes["value"] or ""
