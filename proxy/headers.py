"""Header rules of a trustworthy reverse proxy, as pure functions on ASGI header lists.

Rule: headers are `list[tuple[bytes, bytes]]` with lower-case names (ASGI's
form). Hop-by-hop fields (RFC 9110 §7.6.1: `Connection` and every field it
names, `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`, `Proxy-*`) never
cross Tailor. Client addresses in `X-Forwarded-For` are believed only when
the peer is a configured trusted proxy (uvicorn's `forwarded_allow_ips`
walks the list the same way, from the right).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"http2-settings",
    }
)
# Set by Tailor itself toward the origin; a client's own values are replaced
# unless the client is a trusted proxy.
FORWARDING = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded", b"x-real-ip"})
# Overrides some frameworks honour to route a request elsewhere; never forwarded.
ROUTING_OVERRIDES = frozenset({b"x-original-url", b"x-rewrite-url", b"x-http-method-override"})


def connection_named(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            named.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return named


def strip_hop_by_hop(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    headers = list(headers)
    drop = HOP_BY_HOP | connection_named(headers)
    return [(n, v) for n, v in headers if n not in drop and not n.startswith(b"proxy-")]


def get(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None


def get_all(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [v for n, v in headers if n == name]


def without(headers: Iterable[tuple[bytes, bytes]], *names: bytes) -> Headers:
    drop = set(names)
    return [(n, v) for n, v in headers if n not in drop]


class TrustedProxies:
    """Which peers may tell us the real client address."""

    def __init__(self, cidrs: Sequence[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        # Parsing an address costs ~2 µs; peers repeat, so remember verdicts (bounded).
        self.trusts = functools.lru_cache(maxsize=4096)(self._trusts)  # type: ignore[method-assign]

    def _trusts(self, address: str | None) -> bool:
        if not address or not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._networks)

    def client_address(self, peer: str | None, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """The client's address: walk X-Forwarded-For from the right while hops are trusted."""
        if not self.trusts(peer):
            return peer
        values = get_all(headers, b"x-forwarded-for")
        if not values:
            return peer  # a trusted peer that names nobody: the peer itself (a socket address)
        chain: list[str] = []
        for value in values:
            chain.extend(p.strip() for p in value.decode("latin-1").split(","))
        address = peer
        for hop in reversed([c for c in chain if c]):
            address = hop
            if not self.trusts(hop):
                break
        return address if _is_address(address or "") else peer


@functools.lru_cache(maxsize=4096)
def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def forwarded_scheme(headers: Headers, default: str) -> str:
    """The scheme a trusted proxy says the visitor used: X-Forwarded-Proto's first value as http or https.

    Call only for a trusted peer. ws/wss count as http/https; any other value
    (absent, garbage) gives `default`, so cookies, Location rewrites and the
    origin's X-Forwarded-Proto never carry a scheme nobody uses.
    """
    proto = get(headers, b"x-forwarded-proto")
    if proto is None:
        return default
    return _SCHEMES.get(proto.split(b",")[0].strip().lower().decode("latin-1"), default)


def forwarded_request_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    peer: str | None,
    trusted: TrustedProxies,
    scheme: str,
    origin_host: bytes,
    preserve_host: bool = False,
    drop: frozenset[bytes] = frozenset(),
) -> Headers:
    """The headers Tailor sends to the origin for a client request.

    One pass over the client's headers (this runs on every request): hop-by-hop
    fields, Host, routing overrides, the caller's `drop` names and, from an
    untrusted peer, forwarding fields are dropped; then Host and the
    forwarding fields are set.
    """
    peer_trusted = trusted.trusts(peer)
    client_host = b""
    named: set[bytes] | None = None
    prior: list[bytes] = []
    kept: Headers = []
    has_proto = has_xfh = has_forwarded = False
    for name, value in headers:
        if name in _DROP_ALWAYS or name.startswith(b"proxy-"):
            if name == b"connection":
                named = (named or set()) | {t.strip().lower() for t in value.split(b",") if t.strip()}
            elif name == b"host" and not client_host:
                client_host = value
            continue
        if name in drop:
            continue
        if name in FORWARDING:
            if not peer_trusted:
                continue
            if name == b"x-forwarded-for":
                prior.append(value)
                continue  # rebuilt below
            has_proto = has_proto or name == b"x-forwarded-proto"
            has_xfh = has_xfh or name == b"x-forwarded-host"
            has_forwarded = has_forwarded or name == b"forwarded"
        kept.append((name, value))
    if named:
        kept = [(n, v) for n, v in kept if n not in named]
        if peer_trusted:
            has_proto = get(kept, b"x-forwarded-proto") is not None
            has_xfh = get(kept, b"x-forwarded-host") is not None
            has_forwarded = get(kept, b"forwarded") is not None
    peer_b = (peer or "unknown").encode("latin-1")
    joined = b", ".join(prior)
    kept.append((b"host", client_host if preserve_host and client_host else origin_host))
    kept.append((b"x-forwarded-for", joined + b", " + peer_b if joined else peer_b))
    scheme_b = scheme.encode()
    if not has_proto:
        kept.append((b"x-forwarded-proto", scheme_b))
    if not has_xfh and client_host:
        kept.append((b"x-forwarded-host", client_host))
    if not has_forwarded:
        node = peer_b if b":" not in peer_b else b'"[' + peer_b + b']"'
        fwd = b"for=" + node + b";proto=" + scheme_b
        if client_host and _token_safe(client_host):
            fwd += b";host=" + client_host
        kept.append((b"forwarded", fwd))
    return kept


# Never forwarded as the client sent them: hop-by-hop fields, Host (set from
# config), and overrides some frameworks honour to route a request elsewhere.
_DROP_ALWAYS = HOP_BY_HOP | ROUTING_OVERRIDES | {b"host"}


_NOT_TOKEN = re.compile(rb'[^\x21-\x7e]|[",;\\]')


def _token_safe(value: bytes) -> bool:
    """Visible ASCII without quote, comma, semicolon or backslash (one regex search, not a loop per byte)."""
    return _NOT_TOKEN.search(value) is None


def rewrite_location(location: str, *, origin: str, public_base: str) -> str:
    """Point a redirect that targets the origin at the public address instead.

    Only the origin's own scheme://host:port is rewritten; any other host is
    left alone (it is the origin's decision to send visitors elsewhere).
    """
    try:
        loc = urlsplit(location)
        org = urlsplit(origin)
    except ValueError:
        return location
    if not loc.scheme or not loc.netloc:
        return location
    if loc.scheme.lower() != org.scheme.lower() or _netloc(loc) != _netloc(org):
        return location
    rest = location[len(loc.scheme) + 3 + len(loc.netloc) :]
    return public_base.rstrip("/") + (rest if rest.startswith("/") or not rest else "/" + rest)


def _netloc(parts) -> tuple[str, int | None]:
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return ((parts.hostname or "").lower(), port)


def etag_matches(if_none_match: bytes | None, etag: bytes) -> bool:
    """Whether an If-None-Match header lists exactly `etag` (Tailor's own validators only)."""
    return if_none_match is not None and etag in [t.strip() for t in if_none_match.split(b",")]


def media_type(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str | None]:
    """(`type/subtype` lower-cased, charset or None) of Content-Type."""
    value = get(headers, b"content-type")
    if not value:
        return "", None
    return media_type_of(value)


@functools.lru_cache(maxsize=256)
def media_type_of(value: bytes) -> tuple[str, str | None]:
    """(`type/subtype` lower-cased, charset or None) of one Content-Type value (origins repeat a few)."""
    text = value.decode("latin-1")
    parts = text.split(";")
    charset = None
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset":
            charset = v.strip().strip('"').lower() or None
    return parts[0].strip().lower(), charset


def merge_cache_control_private(value: bytes | None) -> bytes:
    """`private` added to the origin's directives; public/s-maxage removed, stricter ones kept."""
    if not value:
        return b"private, no-cache"
    kept = []
    for d in value.split(b","):
        d = d.strip()
        key = d.split(b"=", 1)[0].strip().lower()
        if key in (b"public", b"s-maxage", b"private", b"proxy-revalidate"):
            continue
        if d:
            kept.append(d)
    return b", ".join([b"private", *kept])


def add_vary(headers: Headers, *fields: bytes) -> Headers:
    existing: list[bytes] = []
    for v in get_all(headers, b"vary"):
        existing.extend(t.strip() for t in v.split(b",") if t.strip())
    if b"*" in existing:
        return headers
    lower = {e.lower() for e in existing}
    for f in fields:
        if f.lower() not in lower:
            existing.append(f)
            lower.add(f.lower())
    return [*without(headers, b"vary"), (b"vary", b", ".join(existing))]
