"""rescan(): the scan of a page, derived from the scan of an earlier copy that differs only in a token.

Rule: exact or nothing. CMS pages differ per response in a token (a CSRF
token in a hidden input or a meta tag, a nonce in a script's JSON) and are
otherwise the same bytes. When two copies differ only inside runs of token
bytes (letters, digits and `-_.:+/~%`; one run if its length changed, up to
16 runs of unchanged length), and each run is a whole quoted string (`="..."`,
`='...'`, or a JSON/JS string after `:`, `(`, `,` or `[`), nothing the scanner
reads can depend on them: a quoted run cannot be a tag name, an attribute
name, a comment or raw-text end, a marker or an opener. So the new scan is
the old one with the offsets past the run moved, provided each run is also not
the value of `charset`, `http-equiv` or a `data-*` attribute, not inside a
slot or the page item's tag, and the charset the page declares comes out the
same. Anything else returns None: scan() it.

Cost: binary searches of byte comparisons (a few µs on 60 KB) instead of a
walk over the page.
"""

from __future__ import annotations

import re

from slots import charset as cs
from slots.model import Problem, ScannedPage
from slots.memo import shift_slot

MAX_TOKEN_BYTES = 1024  # a longer difference is not a token
MAX_RUNS = 16  # tokens of unchanged length at more places than this: scan
_PRESCAN_BYTES = 1100  # browsers look for <meta charset> in the first 1024 bytes (with room for the tag)
_TOKEN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+/~%"
_TOKEN_SET = frozenset(_TOKEN)
_WS = b"\t\n\f\r "
_NAME_BEFORE = re.compile(rb"([^\t\n\f\r \"'<>=/]+)[\t\n\f\r ]*$")
_MARKERS = (b"data-slot", b"data-page-item")


def rescan(old_html: bytes, old_page: ScannedPage, html: bytes, *, charset: str | None = None) -> ScannedPage | None:
    """scan(html, charset=charset), derived from `old_page` = scan(old_html, charset=charset); None if not provable.

    Tokens that keep their length may differ at several places (a CSRF token in the head and in every
    form); a token whose length changed must be the only difference.
    """
    n_old, n = len(old_html), len(html)
    if old_page.size != n_old or old_page.meta_csp:
        return None  # not the scan of these bytes; or a page with a <meta> CSP, whose nonce changes per response
    a = _common_prefix(old_html, html, 0, min(n_old, n))
    if a == n_old == n:
        return old_page
    s = _common_suffix(old_html, html, min(n_old, n) - a)
    delta = n - n_old
    if delta:
        if a < _PRESCAN_BYTES:
            return None  # bytes moved into or out of the first 1024, where <meta charset> counts
        old_end, new_end = n_old - s, n - s  # the one difference: old_html[a:old_end] became html[a:new_end]
        if old_html[a:old_end].translate(None, _TOKEN) or html[a:new_end].translate(None, _TOKEN):
            return None  # something other than token bytes changed
        left, right = _extend(old_html, a, old_end)
        if not _inert(old_html, html, left, right, delta, old_page):
            return None
    else:
        end, pos, runs = n - s, a, 0
        while pos < end:  # every difference, each within a run of token bytes of the same length
            if runs:
                pos = _common_prefix(old_html, html, pos, end)
                if pos >= end:
                    break
            runs += 1
            if runs > MAX_RUNS or html[pos] not in _TOKEN_SET or old_html[pos] not in _TOKEN_SET:
                return None
            left, right = _extend(old_html, pos, pos + 1)
            _, new_right = _extend(html, pos, pos + 1)
            if new_right != right or not _inert(old_html, html, left, right, 0, old_page):
                return None
            pos = right
    got, refusal = cs.page_charset(html, charset)
    if refusal is not None or got != old_page.charset:
        return None
    if not delta:
        return old_page  # nothing moved: the very same scan (callers may key work by its identity)

    def moved(offset: int) -> int:
        return offset + delta if offset >= right else offset

    tag = old_page.page_item_tag
    return ScannedPage(
        slots=tuple(shift_slot(x, delta) if x.start >= right else x for x in old_page.slots),
        problems=tuple(Problem(p.reason, p.slot, moved(p.offset)) for p in old_page.problems),
        tag_offset=None if old_page.tag_offset is None else moved(old_page.tag_offset),
        page_item=old_page.page_item,
        size=n,
        charset=got,
        page_item_tag=None if tag is None else (moved(tag[0]), moved(tag[1])),
        meta_csp=old_page.meta_csp,
    )


def _extend(html: bytes, start: int, end: int) -> tuple[int, int]:
    """The whole run of token bytes around html[start:end]."""
    while start > 0 and html[start - 1] in _TOKEN_SET:
        start -= 1
    n = len(html)
    while end < n and html[end] in _TOKEN_SET:
        end += 1
    return start, end


def _inert(old_html: bytes, html: bytes, left: int, right: int, delta: int, old_page: ScannedPage) -> bool:
    """The token run old_html[left:right] (now html[left:right + delta]) is one no scanner rule reads."""
    if right - left > MAX_TOKEN_BYTES or right + delta - left > MAX_TOKEN_BYTES or not _quoted(old_html, left, right):
        return False
    for run in (old_html[left:right], html[left:right + delta]):
        if b"charset" in run.lower() or any(m in run for m in _MARKERS):
            return False  # belt and braces: a quoted run cannot be read as either
    for slot in old_page.slots:
        if slot.start < right and left < slot.end:
            return False
    tag = old_page.page_item_tag
    return tag is None or not (tag[0] < right and left < tag[1])


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


def _common_prefix(x: bytes, y: bytes, start: int, end: int) -> int:
    """The first offset in [start, end) where x and y differ (end if none); they agree before `start`."""
    lo, hi = start, end  # x[start:lo] == y[start:lo]; the answer is at most hi
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
