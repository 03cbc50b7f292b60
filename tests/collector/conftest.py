"""Real servers for the collector tests: in a thread (FakeClock) or in a subprocess (kill -9)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from proxy.clock import FakeClock
from tests.collector.server_app import TestApp, make_settings

REPO = Path(__file__).resolve().parents[2]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
HEADERS = {"user-agent": BROWSER, "content-type": "text/plain;charset=UTF-8"}


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class Served:
    def __init__(self, url: str, app: TestApp, clock: FakeClock) -> None:
        self.url = url
        self.app = app
        self.clock = clock

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=HEADERS, timeout=10, **kwargs)


@contextlib.contextmanager
def serve_in_thread(data_dir: str, **collector: Any) -> Iterator[Served]:
    clock = FakeClock()
    app = TestApp(make_settings(data_dir, **collector), clock=clock)
    sock = listening_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", loop="asyncio", http="httptools"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.005)
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", app, clock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_in_thread(str(tmp_path / "data")) as s:
        yield s


class Subprocess:
    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def spawn_server(data_dir: str, **collector: Any) -> Subprocess:
    """The collector under uvicorn in its own process, on a socket we bound to port 0."""
    sock = listening_socket()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["TAILOR_TEST_DATA_DIR"] = data_dir
    env["TAILOR_TEST_COLLECTOR"] = msgspec.json.encode(collector).decode()
    cmd = [sys.executable, "-m", "tests.collector.server_app", str(sock.fileno())]
    proc = subprocess.Popen(cmd, pass_fds=[sock.fileno()], env=env, cwd=REPO)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # the child holds its own copy
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/ok", timeout=1).status_code == 200:
                return Subprocess(proc, url)
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("collector subprocess did not start")
        time.sleep(0.02)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    started: list[Subprocess] = []

    def start(data_dir: str | None = None, **collector: Any) -> Subprocess:
        server = spawn_server(data_dir or str(tmp_path / "data"), **collector)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
