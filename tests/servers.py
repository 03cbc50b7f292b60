"""Real servers for tests: any ASGI app under uvicorn on 127.0.0.1, port 0, in a thread.

Rule: no mocks of our own code; tests talk HTTP over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets, else Nagle adds ~40 ms
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextlib.contextmanager
def serve(app, *, host: str = "127.0.0.1", http: str = "httptools", lifespan: str = "on") -> Iterator[str]:
    """Run `app` until the block ends; yields its base URL (no trailing slash)."""
    sock = bound_socket(host)
    port = sock.getsockname()[1]
    protocol = http
    if http == "httptools" and hasattr(app, "forwarder"):  # Tailor: the protocol `tailor serve` runs (proxy.cli)
        from proxy.server_protocol import HeaderDeadlineProtocol

        protocol = HeaderDeadlineProtocol
    config = uvicorn.Config(app, log_level="warning", http=protocol, lifespan=lifespan, loop="asyncio", server_header=False, proxy_headers=False,
                            date_header=not hasattr(app, "forwarder"))  # Tailor keeps the origin's Date
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    error: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the test below
            error.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or error or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    if not server.started:
        raise RuntimeError(f"server did not start: {error or 'startup failed'}")
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def free_port() -> int:
    with contextlib.closing(bound_socket()) as s:
        return s.getsockname()[1]


# What a real browser's page navigation looks like to Tailor (library user agents count as bots).
BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", "accept": "text/html"}


def raw_exchange(url: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes to an http://host:port server and read what comes back until it closes (or goes quiet)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except socket.timeout:
            pass
    return out
