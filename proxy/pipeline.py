"""What Tailor does to one HTML page: identify the visitor, decide, rewrite, inject the tag.

Rule: fail open at every step. The page always goes out; what fails only
makes it less personal. Each step is bounded: the profile read and the
decisions share one deadline (`[decisions] deadline_ms`); past it, or on any
error, slots keep their default content, the tag is still injected, and the
miss is counted and shown in `Server-Timing: decide;desc=fallback`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import secrets
import time

import cachetools
import msgspec

import slots
import tag as tag_asset
from proxy.bots import is_bot
from proxy.csp import script_nonce
from proxy.clock import SYSTEM_CLOCK, Clock
from proxy.decisions.context import build_context, context_headers
from proxy.metrics import Metrics
from proxy.settings import Settings, TagSettings

log = logging.getLogger("tailor.pipeline")

# Many pages are byte-identical for every visitor (a CMS's page cache, static
# pages): their scan is reused. A hit is checked byte for byte against the
# stored page, so a ScannedPage is only ever applied to the exact bytes it
# describes. Pages that differ per response only in a token (CSRF) land in the
# same bucket and have their scan derived from the newest copy by slots.rescan()
# when that is provably exact; anything else is scanned (slots already seen come
# from the ScanMemo).
SCAN_CACHE_BYTES = 32 * 1024 * 1024
SCAN_CACHE_MAX_PAGE = 1024 * 1024
SCAN_BUCKET = 4  # pages kept per sampled key
LAST_COPY_BYTES = 16 * 1024 * 1024  # the last page of each URL, to derive the next copy's scan from
_SAMPLE = 512
# Verified `Cookie` headers -> visitor id: a returning visitor's header repeats
# on every page, and its HMAC check only needs doing once (bounded; cleared when full).
VERIFIED_COOKIES_MAX = 65536


def _page_key(body: bytes, charset: str | None) -> tuple:
    """A cheap lookup key for the scan cache: length plus samples of the page.

    Hashing all 60 KB cost ~13 µs a page; samples cost ~1 µs. Pages that share
    the key but differ elsewhere (a CSRF token mid-page) share a small bucket,
    and every hit is still checked byte for byte.
    """
    n = len(body)
    return (n, charset, body[:_SAMPLE], body[n // 2 : n // 2 + 64], body[-_SAMPLE:], body[_SAMPLE:-_SAMPLE:4093])


def tag_element(settings: TagSettings, *, nonce: str | None = None) -> bytes:
    """The `<script>` Tailor injects, as `[tag]` configures it (empty when the tag is off)."""
    if not settings.enabled:
        return b""
    return tag_asset.script_element(search_param=settings.search_param, consent=settings.consent, hover_ms=settings.hover_ms, nonce=nonce)


class PageRequest(msgspec.Struct, frozen=True):
    path: str
    query_string: str
    headers: list[tuple[bytes, bytes]]
    client_ip: str | None
    secure: bool
    customer: str | None = None  # asserted by the origin's customer header
    reusable: bool = True  # False for the answer to a POST: a one-off, never served from or kept in a cache


class PipelineResult(msgspec.Struct):
    body: bytes | None  # None: send the origin's bytes unchanged
    set_cookies: list[bytes] = []
    timing: str = ""
    same_for_everyone: bool = False  # only the tag was added: the origin's validator still identifies the bytes


class Services(msgspec.Struct):
    """The stateful collaborators, created in the lifespan (see proxy.app)."""

    ids: object  # proxy.identity.VisitorIds
    store: object  # proxy.profile_store.ProfileStore
    engine: object  # proxy.decisions.engine.DecisionEngine
    catalog: object  # proxy.catalog.Catalog
    arm_stats: dict = {}


class HtmlPipeline:
    def __init__(
        self,
        settings: Settings,
        *,
        tag_html: bytes,
        services: Services | None,
        metrics: Metrics,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._tag = tag_html
        self.tag_hash = hashlib.blake2b(tag_html, digest_size=6).hexdigest().encode()  # changes when the tag does
        self._services = services
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random(secrets.randbits(64))
        self._deadline = settings.decisions.deadline_ms / 1000.0
        self._debug = settings.decisions.debug
        self._background: set[asyncio.Task] = set()
        self._scans: cachetools.LRUCache = cachetools.LRUCache(
            maxsize=SCAN_CACHE_BYTES, getsizeof=lambda bucket: sum(len(body) + 1024 for body, _ in bucket)
        )
        self._last_copy: cachetools.LRUCache = cachetools.LRUCache(  # URL -> its last page and scan, for rescan()
            maxsize=LAST_COPY_BYTES, getsizeof=lambda entry: len(entry[0]) + 1024
        )
        self._verified: dict[bytes, str] = {}
        # Slots repeat across pages that differ elsewhere (CSRF tokens, timestamps): their parse is reused.
        self._memo = slots.ScanMemo()

    def _scan(self, body: bytes, charset: str | None, url: str) -> tuple[slots.ScannedPage, bool]:
        """The page's scan, and whether it is a scan already made (so it was seen before)."""
        if len(body) > SCAN_CACHE_MAX_PAGE:
            return slots.scan(body, charset=charset, memo=self._memo), False
        key = _page_key(body, charset)
        bucket = self._scans.get(key)
        if bucket is not None:
            for i, (seen, page) in enumerate(bucket):
                if seen == body:  # byte for byte: a memcmp, ~4 µs for 60 KB
                    if i:
                        bucket.insert(0, bucket.pop(i))
                    self._metrics.scan_cache_hits += 1
                    return page, True
        # Not seen byte for byte. The last copy of this URL is usually the same page with another
        # per-response token: rescan() derives the scan from it when that is provably exact (~20 µs, no walk).
        page, same = None, False
        last = self._last_copy.get((url, charset))
        if last is not None:
            page = slots.rescan(last[0], last[1], body, charset=charset)
            same = page is last[1]  # nothing moved: the very scan the copy had (decisions keyed by it still hold)
            if page is not None:
                self._metrics.scan_rescans += 1
        if page is None:
            page = slots.scan(body, charset=charset, memo=self._memo)
        self._last_copy[(url, charset)] = (body, page)
        if bucket is None:
            self._scans[key] = [(body, page)]
        else:  # same sampled key, other bytes: keep a few, newest first
            bucket.insert(0, (body, page))
            del bucket[SCAN_BUCKET:]
            self._scans[key] = bucket  # re-charged for its new size
        return page, same

    def reconfigure(self, settings: Settings) -> None:
        """New rules from a config reload (proxy.app.TailorApp.reload)."""
        self._settings = settings
        self._deadline = settings.decisions.deadline_ms / 1000.0
        self._debug = settings.decisions.debug

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background write failed: %r", task.exception())

    async def process(self, body: bytes, req: PageRequest, charset: str | None, *, nonce: str | None = None) -> PipelineResult:
        metrics = self._metrics
        page, seen = self._scan(body, charset, f"{req.path}?{req.query_string}") if req.reusable else (slots.scan(body, charset=charset, memo=self._memo), False)
        result = PipelineResult(body=None)
        decisions: dict[str, slots.Decision] = {}
        services = self._services
        if services is not None:
            decisions = await self._personalize(page, req, result, seen_before=seen)
        if nonce is None and page.meta_csp:  # a policy the page declares in its <head>
            nonce = script_nonce([(b"content-security-policy", p.encode("utf-8", "replace")) for p in page.meta_csp])
        tag = self._tag if nonce is None or not self._tag else tag_element(self._settings.tag, nonce=nonce)
        rewritten = slots.rewrite(body, page, decisions, tag=tag, debug=self._debug, charset=charset)
        metrics.slots_applied += len(rewritten.applied)
        metrics.slots_skipped += len(rewritten.problems)
        if rewritten.applied or rewritten.tag_inserted:
            result.body = rewritten.body
            result.same_for_everyone = not rewritten.applied and nonce is None
        else:
            metrics.html_unchanged += 1
        return result

    def _visitor_id(self, ids, cookie: bytes | None) -> str | None:
        """The verified visitor id of a `Cookie` header (each distinct header verified once)."""
        if not cookie:
            return None
        vid = self._verified.get(cookie)
        if vid is None:
            vid = ids.read(cookie.decode("latin-1"))
            if vid is not None:
                if len(self._verified) >= VERIFIED_COOKIES_MAX:
                    self._verified.clear()
                self._verified[cookie] = vid
        return vid

    async def _personalize(
        self, page: slots.ScannedPage, req: PageRequest, result: PipelineResult, *, seen_before: bool = False
    ) -> dict[str, slots.Decision]:
        services = self._services
        assert services is not None
        settings = self._settings
        headers = req.headers
        now = self._clock.time()
        gpc = cookie = user_agent_b = None
        for name, value in headers:  # one pass for the three headers every page needs
            if name == b"cookie":
                cookie = cookie or value
            elif name == b"user-agent":
                user_agent_b = user_agent_b or value
            elif name == b"sec-gpc":
                gpc = gpc or value
        gpc = gpc == b"1"
        ids = services.ids
        vid = self._visitor_id(ids, cookie)
        is_new = vid is None
        bot = is_bot((user_agent_b or b"").decode("latin-1"))
        if vid is None and not gpc and not bot:
            vid = ids.new()
            result.set_cookies.append(ids.set_cookie(vid, secure=req.secure).encode("latin-1"))
        # Learn the catalog from what the origin shows (writes happen off the request path).
        # A page whose scan was reused shows nothing new: it was observed the first time.
        if not seen_before:
            seen = [item for s in page.slots for item in s.items]
            if page.page_item is not None:
                seen.append(page.page_item)
            if seen:
                fresh = services.catalog.observe(seen)
                if fresh:
                    self._spawn(services.store.observe_items(fresh))
        if req.customer and vid and not gpc:
            self._spawn(services.store.link_customer(vid, req.customer))
        if not page.slots:
            return {}
        started = time.perf_counter()
        profile = None
        if vid is not None and not is_new:
            try:
                get_now = getattr(services.store, "get_now", None)
                if get_now is not None:
                    # A point read that never waits (proxy.profile_store): no timer, no coroutine
                    # for it; a slow one still counts against the deadline below.
                    profile = get_now(vid)
                else:
                    # asyncio.timeout, not wait_for: wait_for wraps the read in a Task on every page (3.11).
                    async with asyncio.timeout(self._deadline):
                        profile = await services.store.get(vid)
            except Exception as exc:  # slow or broken store: decide without a profile
                self._metrics.profile_misses += 1
                log.info("profile read failed (%s); deciding without it", type(exc).__name__)
        context = build_context(
            headers=context_headers(headers, settings.proxy.country_header),
            path=req.path,
            query_string=req.query_string,
            profile=profile,
            now=now,
            settings=settings,
            is_new_visitor=is_new,
            vid=vid,
            page_item=page.page_item.id if page.page_item is not None else None,
            is_bot=bot,
        )
        forced = self.forced_for(headers)
        if forced is not None:
            context = msgspec.structs.replace(context, preview=True, forced_persona=forced.get("persona"), forced_variants=forced.get("variants", {}))
        try:
            engine = services.engine
            if profile is None and seen_before:  # nothing personal to go on: the same as for any such visitor
                pd = engine.decide_shared(page, context, services.catalog, rng=self._rng, arm_stats=services.arm_stats)
            else:
                pd = engine.decide(page, profile, context, services.catalog, rng=self._rng, arm_stats=services.arm_stats)
        except Exception:
            self._metrics.decision_errors += 1
            log.exception("decision failed; default content")
            result.timing = "decide;desc=fallback"
            return {}
        elapsed = time.perf_counter() - started
        if elapsed > self._deadline:
            self._metrics.decision_misses += 1
            result.timing = f"decide;desc=fallback;dur={elapsed * 1000:.2f}"
            return {}
        result.timing = f"decide;dur={elapsed * 1000:.2f}"
        if getattr(pd, "persona", None):
            result.timing += f';desc="{pd.persona}"'
        return dict(pd.decisions)

    def forced_for(self, headers) -> dict | None:  # replaced by proxy.preview when QA forcing is configured
        return None
