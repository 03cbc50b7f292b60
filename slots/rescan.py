"""rescan(): the scan of a page, derived from the scan of an earlier copy that differs only in a token.

Rule: exact or nothing. CMS pages differ per response in a token (a CSRF
token in a hidden input or a meta tag, a nonce in a script's JSON) and are
otherwise the same bytes. When two copies differ in exactly one stretch, and
the run of token bytes around it (letters, digits and `-_.:+/~%`) is a quoted
string (`="..."`, `='...'` or a JSON/JS string after `:`, `(`, `,` or `[`),
nothing the scanner reads can depend on it: a quoted run cannot be a tag
name, an attribute name, a comment or raw-text end, a marker or an opener. So
the new scan is the old one with the offsets past the stretch moved, provided
the run is also not the value of `charset`, `http-equiv` or a `data-*`
attribute, not inside a slot or the page item's tag, and the charset the
page declares comes out the same. Anything else returns None: scan() it.

Cost: two binary searches of byte comparisons (a few µs on 60 KB) instead of
a walk over the page.
"""

from __future__ import annotations

import re

from slots import charset as cs
from slots.model import Problem, ScannedPage
from slots.memo import _shift_slot

MAX_TOKEN_BYTES = 1024  # a longer difference is not a token
_PRESCAN_BYTES = 1100  # browsers look for <meta charset> in the first 1024 bytes (with room for the tag)
_TOKEN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+/~%"
_TOKEN_SET = frozenset(_TOKEN)
_WS = b"\t\n\f\r "
_NAME_BEFORE = re.compile(rb"([^\t\n\f\r \"'<>=/]+)[\t\n\f\r ]*$")
_MARKERS = (b"data-slot", b"data-page-item")


def rescan(old_html: bytes, old_page: ScannedPage, html: bytes, *, charset: str | None = None) -> ScannedPage | None:
    """scan(html, charset=charset), derived from `old_page` = scan(old_html, charset=charset); None if not provable."""
    n_old, n = len(old_html), len(html)
    if old_page.size != n_old:
        return None
    a = _common_prefix(old_html, html)
    if a == n_old == n:
        return old_page
    s = _common_suffix(old_html, html, min(n_old, n) - a)
    old_end, new_end = n_old - s, n - s  # the difference: old_html[a:old_end] became html[a:new_end]
    if old_end - a > MAX_TOKEN_BYTES or new_end - a > MAX_TOKEN_BYTES:
        return None
    if old_html[a:old_end].translate(None, _TOKEN) or html[a:new_end].translate(None, _TOKEN):
        return None  # something other than token bytes changed
    # The whole run of token bytes around the difference, in the old page's offsets.
    left = a
    while left > 0 and old_html[left - 1] in _TOKEN_SET:
        left -= 1
    right = old_end
    while right < n_old and old_html[right] in _TOKEN_SET:
        right += 1
    delta = n - n_old
    if delta and a < _PRESCAN_BYTES:
        return None  # bytes moved into or out of the first 1024, where <meta charset> counts
    if not _quoted(old_html, left, right):
        return None
    for run in (old_html[left:right], html[left:right + delta]):
        if b"charset" in run.lower() or any(m in run for m in _MARKERS):
            return None
    for slot in old_page.slots:
        if slot.start < right and left < slot.end:
            return None
    tag = old_page.page_item_tag
    if tag is not None and tag[0] < right and left < tag[1]:
        return None
    got, refusal = cs.page_charset(html, charset)
    if refusal is not None or got != old_page.charset:
        return None
    if not delta:
        return ScannedPage(slots=old_page.slots, problems=old_page.problems, tag_offset=old_page.tag_offset,
                           page_item=old_page.page_item, size=n, charset=got, page_item_tag=tag)

    def moved(offset: int) -> int:
        return offset + delta if offset >= right else offset

    return ScannedPage(
        slots=tuple(_shift_slot(x, delta) if x.start >= right else x for x in old_page.slots),
        problems=tuple(Problem(p.reason, p.slot, moved(p.offset)) for p in old_page.problems),
        tag_offset=None if old_page.tag_offset is None else moved(old_page.tag_offset),
        page_item=old_page.page_item,
        size=n,
        charset=got,
        page_item_tag=None if tag is None else (moved(tag[0]), moved(tag[1])),
    )


def _quoted(html: bytes, left: int, right: int) -> bool:
    """html[left:right] is a run of token bytes: is it a whole quoted string that no scanner rule reads?"""
    if left == 0 or right >= len(html):
        return False
    quote = html[left - 1]
    if quote not in b"\"'" or html[right] != quote:
        return False
    before = html[max(0, left - 81):left - 1].rstrip(_WS)
    if not before:
        return False
    last = before[-1]
    if last in b":(,[":
        return True  # a string in JSON or script: raw text or a value nothing reads
    if last != 0x3D:  # '='
        return False
    m = _NAME_BEFORE.search(before, 0, len(before) - 1)
    if m is None:
        return False
    name = m.group(1).lower()
    return name not in (b"charset", b"http-equiv") and not name.startswith(b"data-")


def _common_prefix(x: bytes, y: bytes) -> int:
    lo, hi = 0, min(len(x), len(y))  # x[:lo] == y[:lo]; the answer is at most hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[lo:mid] == y[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(x: bytes, y: bytes, limit: int) -> int:
    nx, ny = len(x), len(y)
    lo, hi = 0, limit  # the last lo bytes agree; the answer is at most hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[nx - mid:nx - lo] == y[ny - mid:ny - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo
