"""Decoding and re-encoding of HTML bodies Tailor rewrites.

Rule: a body is decoded only up to a cap (a 10 KB gzip bomb must not become
10 GB of memory); anything we cannot decode, or that decodes past the cap,
is sent as the origin sent it. After rewriting, the body is re-encoded in the
best coding the client accepts among those we can produce.
"""

from __future__ import annotations

import functools
import zlib

import brotli

try:  # zstd is optional (pip install tailor-proxy[zstd])
    import zstandard
except ImportError:  # pragma: no cover - exercised only without the extra
    zstandard = None

DECODABLE: tuple[bytes, ...] = (b"gzip", b"x-gzip", b"deflate", b"br") + ((b"zstd",) if zstandard else ())
ACCEPT_ENCODING_TO_ORIGIN = b", ".join(c for c in DECODABLE if c != b"x-gzip")
GZIP_LEVEL = 5  # ~nginx's gzip_comp_level default range; fast enough for a page per ms
BROTLI_QUALITY = 4  # dynamic-content setting; 11 is for static assets


class TooLarge(Exception):
    pass


class Undecodable(Exception):
    pass


def decode(body: bytes, coding: bytes, limit: int) -> bytes:
    """Decode `body` in `coding` (a single content-coding) without exceeding `limit` bytes."""
    coding = coding.strip().lower()
    if coding in (b"", b"identity"):
        if len(body) > limit:
            raise TooLarge
        return body
    try:
        if coding in (b"gzip", b"x-gzip"):
            return _zlib(body, zlib.MAX_WBITS | 16, limit)
        if coding == b"deflate":
            try:
                return _zlib(body, zlib.MAX_WBITS, limit)
            except zlib.error:  # raw deflate, sent by some servers
                return _zlib(body, -zlib.MAX_WBITS, limit)
        if coding == b"br":
            return _brotli(body, limit)
        if coding == b"zstd" and zstandard is not None:
            return _zstd(body, limit)
    except (zlib.error, brotli.error) as exc:
        raise Undecodable(str(exc)) from exc
    except Exception as exc:  # zstandard.ZstdError and friends
        if zstandard is not None and isinstance(exc, zstandard.ZstdError):
            raise Undecodable(str(exc)) from exc
        raise
    raise Undecodable(coding.decode("latin-1"))


def _zlib(body: bytes, wbits: int, limit: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(body, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise TooLarge
    out += d.flush()
    if len(out) > limit:
        raise TooLarge
    if not d.eof:
        raise Undecodable("truncated stream")
    return out


def _brotli(body: bytes, limit: int) -> bytes:
    d = brotli.Decompressor()
    out = bytearray()
    view = memoryview(body)
    step = 64 * 1024
    for i in range(0, len(body), step):
        out += d.process(bytes(view[i : i + step]))
        if len(out) > limit:
            raise TooLarge
    if not d.is_finished():
        raise Undecodable("truncated stream")
    return bytes(out)


def _zstd(body: bytes, limit: int) -> bytes:
    d = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    step = 64 * 1024
    for i in range(0, len(body), step):
        out += d.decompress(body[i : i + step])
        if len(out) > limit:
            raise TooLarge
    return bytes(out)


def choose(accept_encoding: bytes | None, preferred: bytes | None = None) -> bytes:
    """The coding to send: the origin's own if the client accepts it, else br > gzip > identity."""
    accepted = _accepted(accept_encoding or b"")
    if preferred and preferred in (b"gzip", b"br", b"zstd") and accepted.get(preferred, accepted.get(b"*", 0)) > 0:
        if preferred != b"zstd" or zstandard is not None:
            return preferred
    for coding in (b"br", b"gzip"):
        if accepted.get(coding, accepted.get(b"*", 0)) > 0:
            return coding
    return b"identity"


def _accepted(value: bytes) -> dict[bytes, float]:
    """The codings an Accept-Encoding value accepts, with their q (read-only: may be shared)."""
    if len(value) <= 256:  # browsers send a handful of distinct values; a hostile one is parsed, not kept
        return _accepted_cached(value)
    return _parse_accepted(value)


def _parse_accepted(value: bytes) -> dict[bytes, float]:
    out: dict[bytes, float] = {}
    for part in value.lower().split(b","):
        name, _, params = part.strip().partition(b";")
        if not name:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith(b"q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        out[name.strip()] = q
    return out


_accepted_cached = functools.lru_cache(maxsize=256)(_parse_accepted)


def encode(body: bytes, coding: bytes) -> bytes:
    if coding == b"gzip":
        c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        return c.compress(body) + c.flush()
    if coding == b"br":
        return brotli.compress(body, quality=BROTLI_QUALITY)
    if coding == b"zstd" and zstandard is not None:
        return zstandard.ZstdCompressor(level=3).compress(body)
    return body
