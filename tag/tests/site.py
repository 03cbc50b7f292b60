"""A small real site for the tag's browser tests.

Rule: a stdlib HTTP server on 127.0.0.1 (port 0, own thread) that serves
fixture pages with the tag injected exactly as the proxy does
(`script_element`), serves the built tag (TAG_JS), and records every raw body
POSTed to `/_tailor/e`. It can be told to fail the next N posts (503) to
exercise the tag's retry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import msgspec

from proxy.events import Beacon, Event
from tag import TAG_JS, script_element

MAX_TAG_BEACON_BYTES = 60 * 1024  # the tag keeps every beacon under 60 KB


@dataclass(frozen=True)
class Post:
    path: str
    content_type: str
    fetch_mode: str  # Sec-Fetch-Mode: "no-cors" for sendBeacon, "cors" for fetch
    body: bytes
    status: int


@dataclass(frozen=True)
class FixturePage:
    body: str
    title: str = "Fixture"
    head: str = ""  # before the tag (e.g. the queue stub)
    tag: dict[str, Any] | None = None  # script_element kwargs


class Site:
    def __init__(self, pages: dict[str, FixturePage]) -> None:
        self.pages = pages
        self.posts: list[Post] = []
        self.fail_next = 0
        # None: an event the collector would reject fails the test. A list:
        # such events are collected there (tests of limits the collector owns).
        self.invalid: list[bytes] | None = None
        self._cond = threading.Condition()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/_tailor/t.js":
                    return self._reply(200, TAG_JS, "application/javascript")
                if path == "/favicon.ico":
                    return self._reply(204)
                page = site.pages.get(path)
                if page is None:
                    return self._reply(404, b"not found")
                self._reply(200, site.render(page))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with site._cond:
                    status = 503 if site.fail_next > 0 else 204
                    site.fail_next = max(0, site.fail_next - 1)
                    site.posts.append(
                        Post(
                            path=self.path,
                            content_type=self.headers.get("Content-Type", ""),
                            fetch_mode=self.headers.get("Sec-Fetch-Mode", ""),
                            body=body,
                            status=status,
                        )
                    )
                    site._cond.notify_all()
                self._reply(status)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.origin + path

    @staticmethod
    def render(page: FixturePage) -> bytes:
        tag = script_element(**(page.tag or {})).decode()
        return (
            f"<!doctype html><html><head><meta charset=utf-8><title>{page.title}</title>"
            f"<meta name=viewport content='width=device-width'>{page.head}{tag}</head>"
            f"<body>{page.body}</body></html>"
        ).encode()

    def start(self) -> "Site":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def reset(self) -> None:
        with self._cond:
            self.posts.clear()
            self.fail_next = 0

    # -- reading what arrived -------------------------------------------------
    def events(self, *, accepted_only: bool = True) -> list[Any]:
        """Every event received so far, each checked against the wire format."""
        with self._cond:
            posts = list(self.posts)
        out = []
        for post in posts:
            if accepted_only and post.status >= 300:
                continue
            out.extend(decode_post(post, self.invalid))
        return out

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 15.0) -> list[Any]:
        """Block until predicate(events) holds (no fixed sleeps); fail on timeout."""
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self._events_locked()), timeout)
            events = self._events_locked()
        assert ok, f"timed out; events so far: {[type(e).__name__ for e in events]}"
        return events

    def _events_locked(self) -> list[Any]:
        if self.invalid is not None:
            self.invalid.clear()
        return [e for p in self.posts if p.status < 300 for e in decode_post(p, self.invalid)]


def decode_post(post: Post, invalid: list[bytes] | None = None) -> list[Any]:
    """The post's events, decoded as the collector does, one by one; an event
    it would reject raises, or goes to `invalid` when that list is given."""
    assert post.path == "/_tailor/e", post.path
    assert post.content_type.split(";")[0].strip() == "text/plain", post.content_type
    assert len(post.body) < MAX_TAG_BEACON_BYTES, len(post.body)
    beacon = msgspec.json.decode(post.body, type=Beacon)
    if invalid is None:
        return [msgspec.json.decode(raw, type=Event) for raw in beacon.events]
    out = []
    for raw in beacon.events:
        try:
            out.append(msgspec.json.decode(raw, type=Event))
        except msgspec.ValidationError:
            invalid.append(bytes(raw))
    return out
