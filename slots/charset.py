"""Which page encodings the slot engine may touch, and how inserted text is encoded.

Rule: the engine works on raw bytes and only ever looks at ASCII bytes, so it
is only allowed near pages whose charset keeps every ASCII byte meaning ASCII
(UTF-8, windows-125x, ISO-8859-x, Shift_JIS, EUC-*, GBK, Big5...). UTF-16/32,
ISO-2022-*, UTF-7, HZ and EBCDIC pages, and charsets nobody can name, are
passed through untouched. Inserted text is pure ASCII (non-ASCII as numeric
character references) unless the page is known to be UTF-8.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

_ASCII = bytes(range(0x80))
_UNSAFE_PREFIXES = ("utf-16", "utf_16", "utf16", "utf-32", "utf_32", "utf32", "ucs-2", "ucs2", "ucs-4", "ucs4",
                    "iso-2022", "iso2022", "iso_2022", "csiso2022", "utf-7", "utf7", "hz", "replacement")
_META_CHARSET = re.compile(
    rb"""<meta[\t\n\f\r /][^>]*?charset[\t\n\f\r ]*=[\t\n\f\r ]*["']?[\t\n\f\r ]*([A-Za-z0-9_.:+-]{1,40})""",
    re.IGNORECASE,
)


def normalize(label: str | None) -> str | None:
    """A charset label as lower-case text without surrounding blanks or quotes; None if empty."""
    if not label:
        return None
    label = label.strip().strip("\"'").strip().lower()
    return label or None


@lru_cache(maxsize=256)
def is_ascii_compatible(label: str) -> bool:
    """True when every ASCII byte of a page in `label` means that ASCII character."""
    label = normalize(label) or ""
    if not label or label.startswith(_UNSAFE_PREFIXES):
        return False
    if label in ("x-user-defined",):
        return True
    try:
        info = codecs.lookup(label)
    except LookupError:
        return False
    if info.name.startswith(_UNSAFE_PREFIXES) or info.name in ("utf-7", "hz"):
        return False
    try:
        return _ASCII.decode(info.name) == _ASCII.decode("ascii") and _ASCII.decode("ascii").encode(info.name) == _ASCII
    except (UnicodeError, LookupError):
        return False


@lru_cache(maxsize=256)
def is_utf8(label: str | None) -> bool:
    label = normalize(label)
    if label is None:
        return False
    try:
        return codecs.lookup(label).name == "utf-8"
    except LookupError:
        return False


def bom_charset(html: bytes) -> str | None:
    """The charset a byte order mark announces (browsers let a BOM win over everything)."""
    if html.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if html.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "utf-32"
    if html.startswith((b"\xfe\xff", b"\xff\xfe")):
        return "utf-16"
    return None


def meta_charset(html: bytes) -> str | None:
    """The charset a <meta> declares in the first 1024 bytes (where browsers look), if any."""
    m = _META_CHARSET.search(html, 0, 1024)
    if m is None:
        return None
    return m.group(1).decode("ascii").lower()


def page_charset(html: bytes, declared: str | None) -> tuple[str | None, str | None]:
    """(charset to use, reason the page must pass through untouched or None).

    Precedence as in browsers: BOM, then the caller's (transport) charset, then <meta>.
    """
    charset = bom_charset(html) or normalize(declared) or meta_charset(html)
    if charset is None:
        # No label at all: still refuse UTF-16 without a BOM (NUL next to '<').
        head = html[:2]
        if head in (b"<\x00", b"\x00<"):
            return None, "page looks like UTF-16 without a byte order mark"
        return None, None
    if not is_ascii_compatible(charset):
        return charset, f"charset {charset!r} is not ASCII-compatible (or unknown): page passed through"
    return charset, None


def decode_text(raw: bytes, charset: str | None) -> str:
    """Decode attribute bytes for the catalog: the page's charset, else UTF-8, else windows-1252."""
    if charset is not None:
        try:
            return raw.decode(charset, "replace")
        except LookupError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")
