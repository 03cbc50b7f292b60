"""The ASGI application: routes `/_tailor/*` to Tailor's own endpoints, everything else to the origin.

Rule: everything stateful (the upstream client, the profile store, the
decision engine, the learned catalog) is created once in the lifespan from
one Settings object and closed with it. Pure ASGI, no per-request
middleware stack on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import os
import random
import signal
from pathlib import Path

import msgspec

import tag as tag_asset
from proxy import headers as H
from proxy.clock import SYSTEM_CLOCK, Clock
from proxy.compression import choose
from proxy.forwarding import Forwarder
from proxy.metrics import Metrics
from proxy.pipeline import HtmlPipeline, Services, tag_element
from proxy.responses import send_bytes, send_error, send_text
from proxy.settings import Settings
from proxy.upstream import create_upstream
from proxy.websocket import WebSocketRelay

log = logging.getLogger("tailor")

PREFIX = "/_tailor/"
STATS_REFRESH_SECONDS = 10.0
CONFIG_POLL_SECONDS = 2.0


class TailorApp:
    """`create_app(settings)` returns one of these; uvicorn runs it."""

    def __init__(self, settings: Settings, *, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None, personalize: bool = True) -> None:
        if not settings.proxy.origin:
            from proxy.errors import ConfigError

            raise ConfigError("no origin: set [proxy] origin or pass --origin", file=settings.source)
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self._rng = rng
        self._personalize = personalize
        self.config_poll_seconds = CONFIG_POLL_SECONDS
        self.reloads = 0
        self.forwarder: Forwarder | None = None
        self.websockets: WebSocketRelay | None = None
        self.collector = None
        self.services: Services | None = None
        self.secret: bytes = b""
        self._trusted = H.TrustedProxies(settings.proxy.trusted_proxies)
        self._tag_html = tag_element(settings.tag)

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith(PREFIX):
                await self._own(scope, receive, send, path[len(PREFIX) :])
                return
            assert self.forwarder is not None, "lifespan not run"
            await self.forwarder(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            if scope["path"].startswith(PREFIX) or self.websockets is None:
                await send({"type": "websocket.close", "code": 1008})  # Tailor's own paths take none: 403
            else:
                await self.websockets(scope, receive, send)

    async def _own(self, scope, receive, send, rest: str) -> None:
        method = scope["method"]
        if rest == "t.js":
            await self._serve_tag(scope, send)
        elif rest == "e":
            if self.collector is None:
                await send_error(send, 503, extra=[(b"retry-after", b"5")])
            else:
                self._resolve_client(scope)
                await self.collector(scope, receive, send)
        elif rest == "health":
            await send_text(send, 200, "ok\n")
        elif rest == "metrics":
            if not self._authorized(scope):
                await send_error(send, 401, extra=[(b"www-authenticate", b'Bearer realm="tailor"')])
                return
            await send_text(send, 200, self.metrics.render(), content_type=b"text/plain; version=0.0.4")
        else:
            await send_error(send, 404 if method in ("GET", "HEAD") else 405, head=method == "HEAD")

    def _resolve_client(self, scope) -> None:
        """Who really sent this request, when a trusted proxy (CDN, load balancer) stands in front.

        Without it every beacon would seem to come from the proxy's address (one
        rate-limit bucket for all visitors) and its public host would fail the
        collector's same-origin check.
        """
        headers = scope["headers"]
        client = scope.get("client")
        peer = client[0] if client else None
        state = scope.setdefault("state", {})
        state["client_ip"] = self._trusted.client_address(peer, headers)
        if self._trusted.trusts(peer):
            host = H.get(headers, b"x-forwarded-host")
            if host:
                host_s = host.decode("latin-1").split(",")[0].strip().lower()
                proto = H.forwarded_scheme(headers, "")
                schemes = (proto,) if proto else ("http", "https")
                state["public_origins"] = tuple(f"{p}://{host_s}" for p in schemes)

    def _authorized(self, scope) -> bool:
        auth = H.get(scope["headers"], b"authorization") or b""
        token = auth[7:] if auth[:7].lower() == b"bearer " else b""
        return bool(self.secret) and hmac.compare_digest(token, self.secret)

    async def _serve_tag(self, scope, send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(send, 405, extra=[(b"allow", b"GET, HEAD")])
            return
        etag = f'"{tag_asset.TAG_HASH}"'.encode()
        versioned = scope.get("query_string", b"") == f"v={tag_asset.TAG_HASH}".encode()
        headers = [
            (b"content-type", b"text/javascript; charset=utf-8"),
            (b"cache-control", b"public, max-age=31536000, immutable" if versioned else b"public, max-age=300"),
            (b"etag", etag),
            (b"vary", b"Accept-Encoding"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if H.etag_matches(H.get(scope["headers"], b"if-none-match"), etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = tag_asset.TAG_JS
        coding = choose(H.get(scope["headers"], b"accept-encoding"))
        if coding == b"br":
            body = tag_asset.TAG_BROTLI
            headers.append((b"content-encoding", b"br"))
        elif coding == b"gzip":
            body = tag_asset.TAG_GZIP
            headers.append((b"content-encoding", b"gzip"))
        await send_bytes(send, 200, body, headers, head=scope["method"] == "HEAD")

    # ------------------------------------------------------------- lifespan
    async def _lifespan(self, receive, send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            await self.startup()
        except Exception as exc:  # refuse to start with a clear message
            log.exception("Tailor failed to start")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        # What startup built lives as long as the process: move it out of the collector's way, so a full
        # collection walks only what requests create (it took 6-12 ms, a visible p99 spike, without this).
        gc.collect()
        gc.freeze()
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        await self.shutdown()
        await send({"type": "lifespan.shutdown.complete"})

    async def startup(self) -> None:
        s = self.settings
        p = s.proxy
        self.upstream = create_upstream(
            p.upstream_client, connect_timeout=p.connect_timeout, read_timeout=p.read_timeout, max_connections=p.max_connections
        )
        self._tasks: list[asyncio.Task] = []
        if self._personalize:
            try:
                self.services = await self._open_services()
            except Exception:
                # Fail open: the site keeps working, with the tag and without personalization.
                log.exception("personalization unavailable; proxying without it")
                self.services = None
        pipeline = HtmlPipeline(s, tag_html=self._tag_html, services=self.services, metrics=self.metrics, clock=self.clock, rng=self._rng)
        self.pipeline = pipeline
        self.forwarder = Forwarder(s, self.upstream, pipeline, self.metrics)
        relay = WebSocketRelay(origin=p.origin, trusted=self._trusted, preserve_host=p.preserve_host,
                               connect_timeout=p.connect_timeout)
        await relay.start()
        self.websockets = relay
        if s.source and self.services is not None:
            self._tasks.append(asyncio.get_running_loop().create_task(self._watch_config(s.source)))
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # only in the main thread
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload)

    def reload(self) -> bool:
        """Re-read the config file and swap in new personalization rules, atomically.

        Requests in flight finish with the rules they started with; the next
        request uses the new ones. The [proxy], [collector] and [profiles]
        sections are bound to open sockets and files: they change on restart.
        A broken file is reported and the running rules stay.
        """
        from proxy.decisions.engine import DecisionEngine
        from proxy.errors import ConfigError
        from proxy.settings import load_settings

        old = self.settings
        if not old.source or self.services is None:
            return False
        try:
            new = load_settings(old.source)
            new = msgspec.structs.replace(new, proxy=old.proxy, collector=old.collector, profiles=old.profiles, tag=old.tag)
            engine = DecisionEngine(new)
        except ConfigError as exc:
            log.error("config not reloaded, keeping the running rules: %s", exc)
            return False
        except Exception:
            log.exception("config not reloaded, keeping the running rules")
            return False
        self.settings = new
        self.services.engine = engine
        self.pipeline.reconfigure(new)
        self.reloads += 1
        log.info("config reloaded from %s", old.source)
        return True

    async def _watch_config(self, path: str) -> None:
        def stamp() -> tuple[float, int] | None:
            try:
                st = os.stat(path)
            except OSError:
                return None
            return (st.st_mtime, st.st_size)

        seen = stamp()
        while True:
            await asyncio.sleep(self.config_poll_seconds)
            now = stamp()
            if now is not None and now != seen:
                seen = now
                self.reload()

    async def _open_services(self) -> Services:
        from proxy.catalog import Catalog
        from proxy.collector import Collector
        from proxy.decisions.engine import DecisionEngine
        from proxy.identity import VisitorIds, load_or_create_secret
        from proxy.profile_store import ProfileStore

        s = self.settings
        Path(s.proxy.data_dir).mkdir(parents=True, exist_ok=True)
        self.secret = s.proxy.secret.encode() if s.proxy.secret else load_or_create_secret(s.proxy.data_dir)
        ids = VisitorIds(self.secret)
        store = await ProfileStore.open(s, clock=self.clock)
        catalog = Catalog()
        if s.decisions.catalog_feed:
            from proxy.catalog import load_feed

            catalog.observe(load_feed(s.decisions.catalog_feed))
        with contextlib.suppress(Exception):
            catalog.observe(await store.items())
        engine = DecisionEngine(s)
        self.collector = Collector(s, store, ids, clock=self.clock)
        services = Services(ids=ids, store=store, engine=engine, catalog=catalog)
        self._tasks.append(asyncio.get_running_loop().create_task(self._refresh_stats(services)))
        return services

    async def _refresh_stats(self, services: Services) -> None:
        """Cross-visitor statistics (popularity, co-views, bandit arms) refreshed off the request path."""
        while True:
            try:
                services.catalog.stats = await services.store.catalog_stats()
                if self.settings.experiments:
                    services.arm_stats = await asyncio.to_thread(self._arm_stats, services)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("statistics refresh failed", exc_info=True)
            await asyncio.sleep(STATS_REFRESH_SECONDS)

    def _arm_stats(self, services: Services) -> dict:
        from proxy import report

        rep = report.compute(services.store.iter_events(since=self.clock.time() - 30 * 86400), self.settings)
        return report.arm_stats(rep)

    async def shutdown(self) -> None:
        for task in getattr(self, "_tasks", []):
            task.cancel()
        for task in getattr(self, "_tasks", []):
            with contextlib.suppress(BaseException):
                await task
        if self.services is not None:
            with contextlib.suppress(Exception):
                await self.services.store.close()
        if self.websockets is not None:
            await self.websockets.aclose()
        await self.upstream.aclose()


def create_app(settings: Settings, *, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None, personalize: bool = True) -> TailorApp:
    return TailorApp(settings, clock=clock, rng=rng, personalize=personalize)


def app_from_environment() -> TailorApp:
    """uvicorn --factory entry for --workers N: settings handed over once, at start, by the CLI."""
    import json
    import os

    from proxy.settings import load_settings

    from proxy.server_protocol import set_client_timeouts

    spec = json.loads(os.environ.get("TAILOR_SETTINGS", "{}"))
    settings = load_settings(spec.get("config"), **spec.get("overrides", {}))
    set_client_timeouts(settings.proxy.client_header_timeout, settings.proxy.client_body_timeout)  # this worker's protocol, before it serves
    return create_app(settings)
