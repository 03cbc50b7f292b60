"""The built first-party tag, ready to serve, and the element that loads it.

Rule: nothing here needs Node. `tag/dist/t.js` is built from `tag/src/t.js`
by `npm ci --prefix tag && npm run --prefix tag build` and committed
(tag/tests/test_build.py fails when it is stale). The proxy serves TAG_JS (or
TAG_GZIP) at `/_tailor/t.js` and injects `script_element(...)` into pages;
`?v=TAG_HASH` in the src makes a year-long immutable cache safe.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from pathlib import Path

import brotli

__all__ = ["TAG_JS", "TAG_HASH", "TAG_GZIP", "TAG_BROTLI", "TAG_PATH", "CONSENT_MODES", "script_element"]

TAG_PATH = "/_tailor/t.js"
CONSENT_MODES = ("implied", "opt-in")
DEFAULT_HOVER_MS = 800
DEFAULT_ENDPOINT = "/_tailor/e"

TAG_JS: bytes = (Path(__file__).parent / "dist" / "t.js").read_bytes()
TAG_HASH: str = hashlib.sha256(TAG_JS).hexdigest()[:10]
TAG_GZIP: bytes = gzip.compress(TAG_JS, compresslevel=9, mtime=0)
TAG_BROTLI: bytes = brotli.compress(TAG_JS, quality=11)  # ~10% smaller than gzip; browsers send br over https


def _attr(name: str, value: str) -> str:
    return f' {name}="{html.escape(value, quote=True)}"'


def script_element(
    *,
    search_param: str = "q",
    consent: str = "implied",
    hover_ms: int = DEFAULT_HOVER_MS,
    endpoint: str = DEFAULT_ENDPOINT,
    nonce: str | None = None,
) -> bytes:
    """The `<script>` the proxy injects; the tag reads these data-* settings.

    Defaults are left out of the markup (the tag has the same defaults),
    except data-search and data-consent, which are always written.
    """
    if consent not in CONSENT_MODES:
        raise ValueError(f"consent: expected one of {CONSENT_MODES}, got {consent!r}")
    if isinstance(hover_ms, bool) or not isinstance(hover_ms, int) or hover_ms < 1:
        raise ValueError(f"hover_ms: expected a positive int, got {hover_ms!r}")
    if not search_param:
        raise ValueError("search_param: must not be empty")
    parts = [
        "<script",
        _attr("src", f"{TAG_PATH}?v={TAG_HASH}"),
        _attr("data-search", search_param),
        _attr("data-consent", consent),
    ]
    if hover_ms != DEFAULT_HOVER_MS:
        parts.append(_attr("data-hover", str(hover_ms)))
    if endpoint != DEFAULT_ENDPOINT:
        parts.append(_attr("data-endpoint", endpoint))
    if nonce is not None:
        parts.append(_attr("nonce", nonce))
    parts.append(" defer></script>")
    return "".join(parts).encode()
