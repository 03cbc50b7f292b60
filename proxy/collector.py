"""`POST /_tailor/e`: the tag's beacons in, durable events out.

Rule: a 2xx means every accepted event is on disk (the journal's group commit
returned). Everything a client can get wrong is a clear 4xx with a message
naming the problem; a store failure is a 503 with Retry-After, never a 2xx.

Order of checks (cheapest first): method (405) -> cross-site (403) -> bots
(204, dropped) -> rate limit per address (429) -> size (413, stops reading at
the cap) -> content type (415) -> JSON well-formedness, UTF-8, nesting,
duplicate keys (400) -> envelope (400 naming the field) -> visitor (cookie
only; a fresh signed id otherwise) -> rate limit per visitor (429) -> events,
one by one (bad ones reported, good ones kept) -> journal + fold.

Answer: 200 `{"accepted": n, "duplicates": d, "ignored": g, "rejected": [{"index": i, "error": "..."}]}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from proxy import events as ev
from proxy.bots import is_automation, is_bot
from proxy.clock import SYSTEM_CLOCK, Clock
from proxy.errors import StoreError
from proxy.identity import VisitorIds
from proxy.profile_store import ProfileStore
from proxy.ratelimit import TokenBuckets, retry_after_header
from proxy.settings import Settings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

EVENT_DECODER = msgspec.json.Decoder(ev.Event)
BEACON_DECODER = msgspec.json.Decoder(ev.Beacon)


class _ValidBeacon(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """ev.Beacon with every event valid: one decoding pass for the common case."""

    events: Annotated[list[ev.Event], msgspec.Meta(max_length=ev.MAX_EVENTS_PER_BEACON)]


VALID_BEACON_DECODER = msgspec.json.Decoder(_ValidBeacon)
_ANY_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
ACCEPTED_TYPES = (b"text/plain", b"application/json")
MAX_REJECTS_REPORTED = 20
VERIFIED_COOKIES_KEPT = 10_000  # Cookie headers whose signature verified (HMAC once per visitor, not per beacon)
STORE_RETRY_AFTER = "2"


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class Collector:
    def __init__(self, settings: Settings, store: ProfileStore, ids: VisitorIds, *, clock: Clock = SYSTEM_CLOCK, drop_automation: bool = False) -> None:
        self.settings = settings
        self._store = store
        self._ids = ids
        self._clock = clock
        self._max_body = settings.collector.max_body_bytes
        self._drop_automation = drop_automation
        self._verified: dict[bytes, str] = {}
        self._public_origin = _origin_of(settings.proxy.public_url) if settings.proxy.public_url else None
        per_second, burst = settings.collector.rate_per_second, settings.collector.burst
        self._visitor_buckets = TokenBuckets(rate=per_second, burst=burst, clock=clock)
        # One address may be many visitors (offices, carrier NAT): allow it more.
        self._address_buckets = TokenBuckets(rate=per_second * 10, burst=burst * 10, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        set_cookie: str | None = None
        try:
            if scope["method"] != "POST":
                raise _Refused(405, "use POST", [(b"allow", b"POST")])
            headers = _headers(scope)
            self._check_same_origin(scope, headers)
            user_agent = headers.get(b"user-agent", b"").decode("latin-1")
            if is_bot(user_agent) or (self._drop_automation and is_automation(user_agent)):
                await _drain(receive, self._max_body)
                await _respond(send, 204, None, [])
                return
            address = _client_address(scope)
            self._limit(self._address_buckets, "ip:" + (address or "?"))
            body = await self._read_body(headers, receive)
            _check_content_type(headers)
            good, rejected = _decode_body(body)
            vid = self._visitor(headers.get(b"cookie"))
            if vid is None:
                vid = self._ids.new()
                set_cookie = self._ids.set_cookie(vid, secure=scope.get("scheme") == "https")
            else:
                self._limit(self._visitor_buckets, "vid:" + vid)
            gpc = headers.get(b"sec-gpc", b"").strip() == b"1"
            accepted = duplicates = ignored = 0
            if good:
                try:
                    result = await self._store.record(vid, good, received=self._clock.time(), gpc=gpc, ip=address, user_agent=user_agent)
                except StoreError as exc:
                    raise _Refused(503, f"events not stored: {exc}", [(b"retry-after", STORE_RETRY_AFTER.encode())]) from exc
                accepted, duplicates, ignored = result.accepted, result.duplicates, result.ignored
            answer = {"accepted": accepted, "duplicates": duplicates, "ignored": ignored, "rejected": rejected[:MAX_REJECTS_REPORTED]}
            await _respond(send, 200, answer, _cookie_header(set_cookie))
        except _Refused as refused:
            await _respond(send, refused.status, {"error": refused.message}, refused.headers + _cookie_header(set_cookie if refused.status < 500 else None))

    def _visitor(self, cookie: bytes | None) -> str | None:
        """The verified vid from the Cookie header (verified once, then remembered by exact header)."""
        if cookie is None:
            return None
        vid = self._verified.get(cookie)
        if vid is None:
            vid = self._ids.read(cookie.decode("latin-1"))
            if vid is not None:
                if len(self._verified) >= VERIFIED_COOKIES_KEPT:
                    self._verified.clear()
                self._verified[cookie] = vid
        return vid

    def _check_same_origin(self, scope: Scope, headers: dict[bytes, bytes]) -> None:
        if headers.get(b"sec-fetch-site", b"").lower() == b"cross-site":
            raise _Refused(403, "cross-site beacons are refused")
        origin = headers.get(b"origin")
        if origin is None:
            return
        claimed = origin.decode("latin-1").strip().lower()
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        own = f"{scope.get('scheme', 'http')}://{host}"
        if claimed == own or claimed == self._public_origin:
            return
        # Behind a trusted proxy (CDN, nginx): the public host it forwarded, resolved by proxy.app.
        if claimed in scope.get("state", {}).get("public_origins", ()):
            return
        parts = urlsplit(claimed) if claimed != "null" else None
        # TLS terminated in front of us: same host, https origin, http scope.
        if parts is not None and parts.scheme == "https" and parts.netloc == host and host:
            return
        raise _Refused(403, f"origin {claimed!r} is not this site")

    def _limit(self, buckets: TokenBuckets, key: str) -> None:
        wait = buckets.take(key)
        if wait:
            raise _Refused(429, "too many beacons, slow down", [(b"retry-after", retry_after_header(wait).encode())])

    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self._max_body:
                    raise _Refused(413, f"beacon larger than {self._max_body} bytes")
            except ValueError:
                raise _Refused(400, "invalid Content-Length") from None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "client disconnected before the body ended")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _Refused(413, f"beacon larger than {self._max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name == b"cookie" and name in found:
            found[name] += b"; " + value  # HTTP/2 splits cookies over several fields
        else:
            found[name] = value
    return found


def _client_address(scope: Scope) -> str | None:
    state = scope.get("state")
    if state and state.get("client_ip"):
        return str(state["client_ip"])
    client = scope.get("client")
    return client[0] if client else None


def _check_content_type(headers: dict[bytes, bytes]) -> None:
    kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if kind not in ACCEPTED_TYPES:
        raise _Refused(415, "send the beacon as text/plain or application/json")


def _decode_body(body: bytes) -> tuple[list[ev.Event], list[dict[str, Any]]]:
    """The beacon's valid events (first of each id) and the rejected ones, by index."""
    _check_json(body)
    try:
        valid = VALID_BEACON_DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return _decode_events(_decode_beacon(body).events)  # isolate the bad events (or refuse the envelope)
    seen: set[str] = set()
    good: list[ev.Event] = []
    for event in valid.events:
        if event.id not in seen:
            seen.add(event.id)
            good.append(event)
    return good, []


def _check_json(body: bytes) -> None:
    """Well-formed UTF-8 JSON without duplicate keys, or a 400 naming the problem."""
    if not body:
        raise _Refused(400, "empty body: expected a JSON object {\"events\": [...]}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(400, f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        generic = _ANY_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise _Refused(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _Refused(400, "JSON nested too deeply") from None
    if _ENCODER.encode(generic) != body:
        _check_duplicate_keys(text)  # not in canonical compact form: check the slow, exact way


def _decode_beacon(body: bytes) -> ev.Beacon:
    try:
        return BEACON_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise _Refused(400, f"invalid beacon: {exc}") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _Refused(400, f"invalid beacon: {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(400, f"duplicate key {key!r} in a JSON object")
            seen.add(key)
    return result


def _check_duplicate_keys(text: str) -> None:
    try:
        json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _Refused(400, "JSON nested too deeply") from None
    except ValueError as exc:
        raise _Refused(400, f"body is not valid JSON: {exc}") from None


def _decode_events(raws: list[msgspec.Raw]) -> tuple[list[ev.Event], list[dict[str, Any]]]:
    good: list[ev.Event] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, raw in enumerate(raws):
        try:
            event = EVENT_DECODER.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            rejected.append({"index": index, "error": str(exc).replace("`$", "`$.events[%d]" % index, 1)})
            continue
        if event.id in seen:
            continue  # the same event twice in one beacon: the journal would count it as a duplicate anyway
        seen.add(event.id)
        good.append(event)
    return good, rejected


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def _cookie_header(value: str | None) -> list[tuple[bytes, bytes]]:
    return [(b"set-cookie", value.encode("latin-1"))] if value else []


async def _drain(receive: Receive, limit: int) -> None:
    size = 0
    while size <= limit:
        message = await receive()
        size += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _respond(send: Send, status: int, payload: dict[str, Any] | None, headers: list[tuple[bytes, bytes]]) -> None:
    body = _ENCODER.encode(payload) if payload is not None else b""
    base = [(b"cache-control", b"no-store")]
    if payload is not None:
        base += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": base + headers})
    await send({"type": "http.response.body", "body": body})
