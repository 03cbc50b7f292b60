"""Text into HTML: escaping, charset-proof encoding, URL checks and item templates.

Rule: every string that came from outside the page (catalog, decisions,
search terms) is escaped before it touches HTML, and encoded as pure ASCII
with numeric character references unless the page is known UTF-8, so it is
right in any ASCII-compatible charset. Templates only substitute `{field}`
placeholders; nothing is evaluated. A placeholder in a URL attribute only
takes http(s) or relative URLs (anything else becomes `#`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from operator import attrgetter
from typing import Callable, Mapping, Sequence

from slots import tokenizer as tk
from slots.model import Item

_TEXT = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("'"): "&#39;",
         0x2028: "&#8232;", 0x2029: "&#8233;", 0: "\ufffd"}
for _c in list(range(1, 9)) + [0x0B] + list(range(0x0E, 0x20)) + [0x7F]:
    _TEXT[_c] = ""
# Inside a tag (where a value might be unquoted) also blanks, '=' and '`' become references.
_STRONG = dict(_TEXT)
for _c in (0x09, 0x0A, 0x0C, 0x0D, 0x20, ord("="), ord("`")):
    _STRONG[_c] = f"&#{_c};"


def encode(s: str, utf8: bool) -> bytes:
    """Already-escaped text as bytes: UTF-8 if the page is UTF-8, else ASCII with `&#NNN;`."""
    if utf8:
        return s.encode("utf-8", "replace")
    return s.encode("ascii", "xmlcharrefreplace")


# The characters _TEXT / _STRONG replace: most values hold none, and one search is cheaper than translate().
_NEEDS_TEXT = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_TEXT)) + "]")
_NEEDS_STRONG = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_STRONG)) + "]")


def plain_text(s: str) -> bool:
    """Whether escape(s, utf8) is plain encoding: nothing in `s` needs replacing (and no surrogate)."""
    return _NEEDS_TEXT_OR_SURROGATE.search(s) is None


def escape(s: str, utf8: bool, strong: bool = False) -> bytes:
    """Escape text for HTML text or a quoted attribute value (`strong`: safe even unquoted)."""
    if (_NEEDS_STRONG if strong else _NEEDS_TEXT).search(s) is not None:
        s = s.translate(_STRONG if strong else _TEXT)
    return encode(s, utf8)


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_STRIP = re.compile(r"[\t\n\r]")


# A path-absolute URL of visible ASCII without a backslash: no cleanup changes it, it has no scheme.
_PLAIN_PATH = re.compile(r"/[!-\[\]-~]*")


def safe_url(url: str | None) -> str:
    """`url` when it is http(s) or relative (browsers' own cleanup applied first), else '#'."""
    if not url:
        return ""
    if _PLAIN_PATH.fullmatch(url) is not None:  # the common case, what _safe_url_general() returns for it
        return url
    return _safe_url_general(url)


def _safe_url_general(url: str) -> str:
    cleaned = _STRIP.sub("", url).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13"
                                        "\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
    m = _SCHEME.match(cleaned)
    if m is None:
        return cleaned if not cleaned.startswith("\\") else "#"
    return cleaned if m.group(1).lower() in ("http", "https") else "#"


_PLACEHOLDER = re.compile(rb"\{([A-Za-z_][A-Za-z0-9_]{0,39})\}")
_URL_ATTRS = frozenset((b"href", b"src", b"action", b"formaction", b"poster", b"srcset", b"data", b"cite",
                        b"background", b"xlink:href", b"ping", b"manifest", b"codebase", b"longdesc"))
_ATTR_BEFORE = re.compile(rb"([^\t\n\f\r />=]+)[\t\n\f\r ]*=[\t\n\f\r ]*([\"']?)[^\"'\t\n\f\r >]*$")
# Where a placeholder stands: text or quoted value (plain escaping), anywhere else in a tag (strong),
# and whether the attribute takes a URL.
TEXT, TAG, URL = 0, 1, 2
QUOTED_URL = 3


@lru_cache(maxsize=512)
def plan(template: bytes) -> tuple[tuple[bytes, ...], tuple[tuple[str, int], ...]]:
    """Split a template into literal chunks and (field, context) holes; chunks has one more entry than holes."""
    tags = [(m.start(), m.end()) for m in re.finditer(rb"<[A-Za-z/][^\t\n\f\r />]*+" + tk.ATTRS + rb">", template)]
    chunks: list[bytes] = []
    holes: list[tuple[str, int]] = []
    last = 0
    for m in _PLACEHOLDER.finditer(template):
        ctx = TEXT
        for a, b in tags:
            if a < m.start() < b:
                ctx = TAG
                before = _ATTR_BEFORE.search(template, a, m.start())
                if before is not None:
                    is_url = before.group(1).lower() in _URL_ATTRS
                    if before.group(2):
                        ctx = QUOTED_URL if is_url else TEXT
                    elif is_url:
                        ctx = URL
                break
        chunks.append(template[last:m.start()])
        holes.append((m.group(1).decode("ascii"), ctx))
        last = m.end()
    chunks.append(template[last:])
    return tuple(chunks), tuple(holes)


def item_fields(item: Item, extra: Mapping[str, str] | None) -> dict[str, str]:
    fields = dict(extra) if extra else {}
    fields.update(
        id=item.id, title=item.title or "", url=item.url or "", image=item.image or "",
        price=item.price or "", category=item.category or "", tags=",".join(item.tags),
    )
    return fields


@lru_cache(maxsize=512)
def _steps(template: bytes) -> tuple[bytes, tuple[tuple[str, int, bytes], ...]]:
    """plan() as the first chunk, then (field, context, chunk after it) per hole."""
    chunks, holes = plan(template)
    return chunks[0], tuple((name, ctx, chunk) for (name, ctx), chunk in zip(holes, chunks[1:]))


def render(template: bytes, fields: Mapping[str, str], utf8: bool) -> bytes:
    """Fill `{field}` placeholders with escaped values; unknown placeholders stay as written."""
    first, steps = _steps(template)
    if not steps:
        return template
    out = [first]
    append, get, needs_text = out.append, fields.get, _NEEDS_TEXT.search
    for name, ctx, chunk in steps:
        value = get(name)
        if value is None:
            append(b"{" + name.encode("ascii") + b"}")
        elif ctx == TEXT or ctx == QUOTED_URL:
            if ctx == QUOTED_URL:
                value = safe_url(value)
            if needs_text(value) is not None:  # escape(value, utf8), inlined: most values need nothing
                value = value.translate(_TEXT)
            append(value.encode("utf-8", "replace") if utf8 else value.encode("ascii", "xmlcharrefreplace"))
        elif ctx == URL:
            append(escape(safe_url(value), utf8, strong=True))
        else:
            append(escape(value, utf8, strong=True))
        append(chunk)
    return b"".join(out)


_RENDER_CACHE_MAX_TEMPLATE = 4096
_ITEM_TEXT_FIELDS = frozenset(("id", "title", "url", "image", "price", "category"))
# What _TEXT replaces, and surrogates (encoded as '?' by render(), an error in str.encode()).
_NEEDS_TEXT_OR_SURROGATE = re.compile(_NEEDS_TEXT.pattern[:-1] + "\ud800-\udfff]")


@lru_cache(maxsize=512)
def _item_format(template: bytes) -> tuple[str, tuple[tuple[str, bool], ...], Callable[[Item], tuple] | None,
                                           tuple[int, ...]] | None:
    """A template whose placeholders all stand in text or quoted values, as one str %-format (its bytes
    decoded with surrogateescape, so encoding gives them back exactly) and (field, takes a URL) per hole;
    when every field is an Item attribute also one getter of them all and the places of the URLs.
    None when some placeholder stands elsewhere in a tag (strong escaping: render() does it)."""
    chunks, holes = plan(template)
    if any(ctx not in (TEXT, QUOTED_URL) for _, ctx in holes):
        return None
    parts = [chunks[0].decode("utf-8", "surrogateescape").replace("%", "%%")]
    for chunk in chunks[1:]:
        parts.append("%s")
        parts.append(chunk.decode("utf-8", "surrogateescape").replace("%", "%%"))
    names = [name for name, _ in holes]
    getter = None
    if names and all(name in _ITEM_TEXT_FIELDS for name in names):
        one = attrgetter(*names)
        getter = one if len(names) > 1 else (lambda item: (one(item),))
    urls = tuple(i for i, (_, ctx) in enumerate(holes) if ctx == QUOTED_URL)
    return "".join(parts), tuple((name, ctx == QUOTED_URL) for name, ctx in holes), getter, urls


def _render_item_utf8(template: bytes, item: Item, extra: Mapping[str, str]) -> bytes | None:
    """render(template, item_fields(item, extra), True) for the usual case, in one format and one encode:
    every placeholder in text or a quoted value, known, and no value that needs escaping or holds a
    surrogate. None otherwise (the caller renders the general way)."""
    form = _item_format(template)
    if form is None:
        return None
    fmt, holes, getter, urls = form
    values: list[str] | tuple[str, ...]
    if getter is not None:  # every placeholder an Item attribute: one call
        values = getter(item)
        if None in values:
            values = [v or "" for v in values]
        if urls:
            values = list(values)
            for i in urls:
                values[i] = safe_url(values[i])
    else:
        values = []
        for name, is_url in holes:
            if name in _ITEM_TEXT_FIELDS:
                value = getattr(item, name) or ""
            elif name == "tags":
                value = ",".join(item.tags)
            else:
                value = extra.get(name)
                if value is None:
                    return None
            values.append(safe_url(value) if is_url else value)
    if _NEEDS_TEXT_OR_SURROGATE.search("".join(values)) is not None:
        return None
    return (fmt % tuple(values)).encode("utf-8", "surrogateescape")


@lru_cache(maxsize=4096)
def _render_item_cached(template: bytes, item: Item, extra: tuple[tuple[str, str], ...], utf8: bool) -> bytes:
    fields = dict(extra)
    if utf8:
        out = _render_item_utf8(template, item, fields)
        if out is not None:
            return out
    return render(template, item_fields(item, fields), utf8)


def render_items(template: bytes, items: Sequence[Item], extra: Mapping[str, str] | None, utf8: bool) -> list[bytes]:
    """render() of each item through an item template. A pure function of its arguments, so the bytes of
    an item shown again through the same template (the usual case: a catalog, a few templates) are
    remembered instead of escaped again; large templates and unhashable items are rendered every time."""
    if len(template) > _RENDER_CACHE_MAX_TEMPLATE:
        return [render(template, item_fields(item, extra), utf8) for item in items]
    key = tuple(sorted(extra.items())) if extra else ()
    out = []
    for item in items:
        try:
            out.append(_render_item_cached(template, item, key, utf8))
        except TypeError:  # a hand-built Item holding a list is not hashable: render it uncached
            out.append(render(template, item_fields(item, extra), utf8))
    return out


def render_item(template: bytes, item: Item, extra: Mapping[str, str] | None, utf8: bool) -> bytes:
    """render_items() of one item."""
    return render_items(template, (item,), extra, utf8)[0]
