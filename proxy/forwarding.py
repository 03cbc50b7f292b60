"""Forward one visitor request to the origin and the answer back: the proxy's hot path.

Rule: the upstream is `[proxy] origin` and nothing the client sends can
change it (no Host, absolute-form URI, X-Forwarded-Host or override header
picks another host). Bodies stream in both directions; only a 2xx
`text/html` answer to GET or POST, under the size cap, is held back so the
HTML pipeline can rewrite it (starlette's GZipMiddleware pattern: headers are
decided after the body is seen). A HEAD for such a page gets the headers the
GET would carry, without the origin's Content-Length and validators (they
describe the untagged bytes). Whatever fails on Tailor's side, the visitor
gets the origin's bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from proxy import compression
from proxy import headers as H
from proxy.csp import script_nonce
from proxy.errors import UpstreamError, UpstreamTimeout
from proxy.metrics import Metrics
from proxy.pipeline import HtmlPipeline, PageRequest
from proxy.responses import http_date, send_error
from proxy.settings import Settings
from proxy.upstream import Upstream

log = logging.getLogger("tailor.proxy")

NO_BODY_STATUSES = frozenset({204, 304})
PAGE_METHODS = frozenset({"GET", "HEAD", "POST"})
BODY_SPECIFIC = frozenset({b"content-length", b"content-encoding", b"etag", b"last-modified", b"content-md5"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
CONDITIONAL = (b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since", b"if-range")
NAVIGATION_DROPS = frozenset({b"accept-encoding", *CONDITIONAL})
NOTHING: frozenset[bytes] = frozenset()
VARY_PAGE = (b"vary", b"Accept-Encoding, Cookie")


class Forwarder:
    def __init__(self, settings: Settings, upstream: Upstream, pipeline: HtmlPipeline | None, metrics: Metrics) -> None:
        p = settings.proxy
        origin = urlsplit(p.origin)
        if origin.scheme not in ("http", "https") or not origin.hostname:
            raise ValueError("origin must be an http(s) URL")
        self._origin = p.origin.rstrip("/")
        self._origin_prefix = origin.path.rstrip("/")
        self._origin_base = f"{origin.scheme}://{origin.netloc}"
        self._origin_host = origin.netloc.encode()
        self._public_url = p.public_url.rstrip("/") if p.public_url else None
        self._trusted = H.TrustedProxies(p.trusted_proxies)
        self._html_max = p.html_max_bytes
        self._decoded_max = p.decoded_max_bytes
        self._customer_header = p.customer_header.lower().encode()
        self._private = p.private_cache
        self._preserve_host = p.preserve_host
        self._upstream = upstream
        self._pipeline = pipeline
        self._metrics = metrics
        self._tag_hash = getattr(pipeline, "tag_hash", b"")

    async def __call__(self, scope, receive, send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        head = method == "HEAD"
        metrics = self._metrics
        metrics.requests += 1
        if method == "CONNECT":
            await send_error(send, 405, extra=[(b"allow", b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")])
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if not raw_path.startswith(b"/") or raw_path.startswith(b"//"):
            # absolute-form or authority-form targets never pick a host
            await send_error(send, 400, head=head)
            return
        query: bytes = scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        url = self._origin_base + self._origin_prefix + target

        client = scope.get("client")
        peer = client[0] if client else None
        req_headers: H.Headers = scope["headers"]
        client_ip = self._trusted.client_address(peer, req_headers)
        scope.setdefault("state", {})["client_ip"] = client_ip
        scheme = scope.get("scheme", "http")
        if self._trusted.trusts(peer):
            scheme = H.forwarded_scheme(req_headers, scheme)
        # GET and POST answers may be pages to rewrite; HEAD must describe what GET would send.
        page_method = method in PAGE_METHODS and self._pipeline is not None
        # We must see the whole page to personalize it: ask only for codings
        # we can decode, and never let a 304 hand back another variant.
        navigation = page_method and _is_navigation(req_headers)
        out_headers = H.forwarded_request_headers(
            req_headers,
            peer=peer,
            trusted=self._trusted,
            scheme=scheme,
            origin_host=self._origin_host,
            preserve_host=self._preserve_host,
            drop=NAVIGATION_DROPS if navigation else NOTHING,
        )
        if navigation:
            out_headers.append((b"accept-encoding", compression.ACCEPT_ENCODING_TO_ORIGIN))
        body = _request_body(receive) if _has_body(req_headers) else None

        t_up = time.perf_counter()
        try:
            resp = await self._upstream.send(method, url, out_headers, body)
        except UpstreamTimeout:
            metrics.upstream_timeouts += 1
            await send_error(send, 504, head=head, extra=[_timing(origin=time.perf_counter() - t_up, tailor=t_up - started)])
            return
        except UpstreamError as exc:
            metrics.upstream_errors += 1
            log.warning("origin error for %s %s: %s", method, raw_path[:200], exc)
            await send_error(send, 502, head=head, extra=[_timing(origin=time.perf_counter() - t_up, tailor=t_up - started)])
            return
        origin_headers_at = time.perf_counter()
        try:
            # One pass for what every answer needs: hop-by-hop fields and the customer header dropped.
            resp_headers: H.Headers = []
            has_date = False
            named = customer = location = content_type = disposition = None
            customer_header = self._customer_header
            for name, value in resp.headers:
                if name in H.HOP_BY_HOP or name[:6] == b"proxy-":
                    if name == b"connection":
                        named = H.connection_named(((name, value),)) | (named or set())
                    continue
                if name == customer_header:
                    customer = customer or value
                    continue
                if name == b"date":
                    has_date = True
                elif name == b"location":
                    location = location or value
                elif name == b"content-type":
                    content_type = content_type or value
                elif name == b"content-disposition":
                    disposition = disposition or value
                resp_headers.append((name, value))
            if named:  # fields the origin's Connection header names are hop-by-hop too
                resp_headers = [(n, v) for n, v in resp_headers if n not in named]
                has_date = H.get(resp_headers, b"date") is not None
                location = H.get(resp_headers, b"location")
                content_type = H.get(resp_headers, b"content-type")
                disposition = H.get(resp_headers, b"content-disposition")
            if not has_date:
                resp_headers.append((b"date", http_date()))
            if location is not None:
                public = self._public_url or f"{scheme}://{(H.get(req_headers, b'host') or self._origin_host).decode('latin-1')}"
                new = H.rewrite_location(location.decode("latin-1"), origin=self._origin_base, public_base=public)
                resp_headers = [*H.without(resp_headers, b"location"), (b"location", new.encode("latin-1"))]
            status = resp.status
            if (
                page_method
                and 200 <= status < 300
                and status not in (204, 206)
                and content_type is not None
                and H.media_type_of(content_type)[0] in HTML_TYPES
                and not (disposition or b"").lower().startswith(b"attachment")
            ):
                if head:
                    # The GET of this page is tagged: the origin's length and validators describe other bytes.
                    resp_headers = self._page_headers(resp_headers)
                else:
                    page = PageRequest(
                        path=raw_path.decode("latin-1"),
                        query_string=query.decode("latin-1"),
                        headers=req_headers,
                        client_ip=client_ip,
                        secure=scheme == "https",
                        customer=customer.decode("latin-1") if customer else None,
                        reusable=method == "GET",
                    )
                    charset = H.media_type_of(content_type)[1]
                    await self._send_html(send, resp, status, resp_headers, charset, page, started, t_up, origin_headers_at)
                    return
            timing = _timing(origin=origin_headers_at - t_up, tailor=(t_up - started) + (time.perf_counter() - origin_headers_at))
            resp_headers.append(timing)
            await send({"type": "http.response.start", "status": status, "headers": resp_headers})
            if head or status in NO_BODY_STATUSES or 100 <= status < 200:
                await send({"type": "http.response.body", "body": b""})
                return
            await _stream_body(send, resp)
        finally:
            await resp.aclose()

    def _page_headers(self, headers: H.Headers) -> H.Headers:
        """Headers of a page Tailor rewrites, without body-specific ones (the rewritten body sets its own).

        One pass: drops length, coding and validators of the origin's bytes,
        makes Cache-Control private (when configured) and adds Vary.
        """
        private = self._private
        out: H.Headers = []
        cache_control: list[bytes] = []
        vary: H.Headers = []
        for name, value in headers:
            if name in BODY_SPECIFIC:
                continue
            if name == b"cache-control" and private:
                cache_control.append(value)
            elif name == b"vary":
                vary.append((name, value))
            else:
                out.append((name, value))
        if private:
            out.append((b"cache-control", H.merge_cache_control_private(b", ".join(cache_control) or None)))
        if vary:
            out.extend(H.add_vary(vary, b"Accept-Encoding", b"Cookie"))
        else:
            out.append(VARY_PAGE)
        return out

    async def _send_html(self, send, resp, status, resp_headers, charset, page: PageRequest, started, t_up, origin_at) -> None:
        metrics = self._metrics
        chunks: list[bytes] = []
        size = 0
        overflow = False
        try:
            while chunk := await resp.read_chunk():
                chunks.append(chunk)
                size += len(chunk)
                if size > self._html_max:
                    overflow = True
                    break
        except UpstreamError as exc:  # truncated or broken body: nothing sent yet, so say so
            metrics.upstream_errors += 1
            log.warning("origin body failed for %s: %s", page.path[:200], exc)
            await send_error(send, 504 if isinstance(exc, UpstreamTimeout) else 502)
            return
        origin_done = time.perf_counter()
        if overflow:
            # Too big to hold: the page streams through as the origin sent it.
            metrics.html_too_large += 1
            await send({"type": "http.response.start", "status": status, "headers": [*resp_headers, _timing(origin=origin_done - t_up, tailor=t_up - started)]})
            for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await _stream_body(send, resp)
            return
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        encodings = H.get_all(resp_headers, b"content-encoding")
        codings = [c.strip().lower() for c in b",".join(encodings).split(b",") if c.strip()] if encodings else []
        result = None
        extra: H.Headers = []
        decoded = None
        if len(codings) <= 1:
            try:
                decoded = compression.decode(raw, codings[0] if codings else b"", self._decoded_max)
            except (compression.TooLarge, compression.Undecodable) as exc:
                metrics.html_undecodable += 1
                log.info("HTML passed through undecoded (%s): %s", type(exc).__name__, page.path[:200])
        if decoded is not None:
            try:
                result = await self._pipeline.process(decoded, page, charset, nonce=script_nonce(resp_headers))  # type: ignore[union-attr]
            except Exception:  # fail open: the origin's page, as it came
                metrics.pipeline_errors += 1
                log.exception("HTML pipeline failed; serving the origin's page")
                result = None
        def timing() -> tuple[bytes, bytes]:  # Tailor's time: before the origin, and since its body arrived
            return _timing(origin=origin_done - t_up, tailor=(t_up - started) + (time.perf_counter() - origin_done))

        if result is not None:
            extra.extend((b"set-cookie", c) for c in result.set_cookies)
            if result.timing:
                extra.append((b"server-timing", result.timing.encode("latin-1")))
        if result is None or result.body is None:
            headers = resp_headers
            if extra and self._private:
                headers = _mark_private(headers)
            await _send_whole(send, status, [*headers, *extra, timing()], raw)
            return
        body = result.body
        origin_etag = H.get(resp_headers, b"etag")
        headers = self._page_headers(resp_headers)
        # A validator only where the bytes are the same for everyone (origin page + tag):
        # derived from the origin's own, so no hashing of the body on the hot path. A
        # personalized page carries per-render decision ids and gets none; nor does the
        # answer to a POST (a one-off: a form shown again with its errors).
        etag = (
            _variant_etag(origin_etag, self._tag_hash)
            if result.same_for_everyone and origin_etag and page.reusable
            else None
        )
        if etag is not None:
            headers.append((b"etag", etag))
        if etag is not None and H.etag_matches(H.get(page.headers, b"if-none-match"), etag):
            await _send_whole(send, 304, [*H.without(headers, b"content-type"), *extra, timing()], b"")
            metrics.html_not_modified += 1
            return
        coding = compression.choose(H.get(page.headers, b"accept-encoding"), codings[0] if codings else None)
        if coding != b"identity":
            body = compression.encode(body, coding)
            headers.append((b"content-encoding", coding))
        metrics.html_rewritten += 1
        await _send_whole(send, status, [*headers, *extra, timing()], body, has_length=False)


def _variant_etag(origin_etag: bytes, tag_hash: bytes) -> bytes:
    inner = origin_etag.strip()
    if inner.startswith(b"W/"):
        inner = inner[2:]
    return b'W/"' + inner.strip(b'"') + b"-t" + tag_hash + b'"'


def _mark_private(headers: H.Headers) -> H.Headers:
    cc = H.get(headers, b"cache-control")
    return [*H.without(headers, b"cache-control"), (b"cache-control", H.merge_cache_control_private(cc))]


async def _send_whole(send, status: int, headers: H.Headers, body: bytes, *, head: bool = False, has_length: bool = True) -> None:
    """`has_length=False`: the caller knows `headers` carry no Content-Length (no pass to drop one)."""
    if has_length:
        headers = H.without(headers, b"content-length")
    if status in NO_BODY_STATUSES:
        body = b""
    else:
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _stream_body(send, resp) -> None:
    """The rest of the origin's body, piece by piece as it arrives.

    The piece that completes the body goes out as the last message (no extra
    empty one) when the client library already knows it is the end.
    """
    while chunk := await resp.read_chunk():
        if resp.at_eof():
            await send({"type": "http.response.body", "body": chunk})
            return
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _timing(*, origin: float, tailor: float) -> tuple[bytes, bytes]:
    return (b"server-timing", f"origin;dur={origin * 1000:.2f}, tailor;dur={tailor * 1000:.2f}".encode())


def _is_navigation(headers: H.Headers) -> bool:
    """A request for a page (not an asset): browsers say so in Sec-Fetch-Dest or Accept."""
    dest = H.get(headers, b"sec-fetch-dest")
    if dest is not None:
        return dest in (b"document", b"iframe", b"frame", b"empty") and b"text/html" in (H.get(headers, b"accept") or b"text/html")
    accept = (H.get(headers, b"accept") or b"").lower()
    return b"text/html" in accept or b"application/xhtml" in accept


def _has_body(headers: H.Headers) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
    return False


async def _request_body(receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise UpstreamError("client went away while uploading")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
