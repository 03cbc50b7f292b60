"""Just enough of the HTML tokenizer (WHATWG 13.2.5) to know where tags, comments and raw text are.

Rule: every function here takes a position the caller knows is in the data
state and returns the position just past one token, following the
specification's states exactly for the constructs that change what later
bytes mean: tags and their quoted attribute values, comments (including the
abrupt `<!-->` forms), bogus comments, raw text / RCDATA / script data
(including its escaped and double-escaped states) and plaintext. Anything
unterminated runs to the end of the input, as in a browser.
"""

from __future__ import annotations

import re

WS = b"\t\n\f\r "
TAGNAME = rb"[A-Za-z][^\t\n\f\r />]*+"


def attributes_pattern(name_guard: bytes = b"") -> bytes:
    """Attributes, possessively: a quoted value runs to its closing quote (or to the end of
    input, which then fails the final '>' so an unterminated tag is never taken for a tag).

    Separators, then attributes each followed by separators (unrolled: cheaper in sre than one
    alternation of the two). `name_guard`, a lookahead, must hold where each attribute name starts
    (e.g. `(?![Dd][Aa][Tt][Aa]-)`: no data-* attribute, or the pattern stops short of the '>').
    """
    sep = rb"[\t\n\f\r /]*+"
    return (sep + rb"(?:" + name_guard + rb"[^\t\n\f\r />][^\t\n\f\r />=]*+"
            rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^\t\n\f\r >]*+))?" + sep + rb")*+")


ATTRS = attributes_pattern()
START_TAG = re.compile(rb"<(" + TAGNAME + rb")(" + ATTRS + rb")>")
END_TAG = re.compile(rb"</(" + TAGNAME + rb")" + ATTRS + rb">")
ATTR = re.compile(
    rb"([^\t\n\f\r />][^\t\n\f\r />=]*+)(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"([^\"]*+)\"|'([^']*+)'|([^\t\n\f\r >]*+)))?"
)

RAWTEXT = frozenset((b"style", b"xmp", b"iframe", b"noembed", b"noframes", b"noscript", b"textarea", b"title"))
VOID = frozenset((b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta", b"source",
                  b"track", b"wbr", b"param", b"keygen", b"frame", b"basefont", b"bgsound", b"image"))
FOREIGN = frozenset((b"svg", b"math"))

_RAWTEXT_END = {name: re.compile(rb"</" + name + rb"[\t\n\f\r />]", re.IGNORECASE) for name in RAWTEXT}
_SCRIPT_DATA = re.compile(rb"</script[\t\n\f\r />]|<!--", re.IGNORECASE)
_SCRIPT_ESCAPED = re.compile(rb"-->|</script[\t\n\f\r />]|<script[\t\n\f\r />]", re.IGNORECASE)
_SCRIPT_DOUBLE = re.compile(rb"-->|</script[\t\n\f\r />]", re.IGNORECASE)


def comment_end(html: bytes, p: int) -> int:
    """`html[p:p+4] == b'<!--'`: the position just past the comment."""
    a = html.find(b"-->", p + 2)  # from p+2: `<!-->` and `<!--->` close at once
    b = html.find(b"--!>", p + 4)
    if a < 0 and b < 0:
        return len(html)
    if b < 0 or (0 <= a < b):
        return a + 3
    return b + 4


def markup_declaration_end(html: bytes, p: int) -> int:
    """`html[p] == '<'` followed by '!' (not a comment) or '?': past the bogus comment / doctype / CDATA."""
    gt = html.find(b">", p + 2)
    end = len(html) if gt < 0 else gt + 1
    if html.startswith(b"<![CDATA[", p):
        # A real CDATA section in SVG/MathML ends at ']]>', a bogus comment in HTML at '>':
        # take whichever is later so nothing inside either reading is mistaken for markup.
        cd = html.find(b"]]>", p + 9)
        end = max(end, len(html) if cd < 0 else cd + 3)
    return end


def end_tag_end(html: bytes, p: int) -> int | None:
    """`html[p:p+2] == b'</'` and a letter follows: past the end tag, None if unterminated."""
    m = END_TAG.match(html, p)
    return None if m is None else m.end()


def script_end(html: bytes, p: int) -> int:
    """`p` just past a <script> start tag: the position of its `</script` end tag (len(html) if none)."""
    n = len(html)
    state = 0  # 0 script data, 1 escaped, 2 double escaped
    while True:
        if state == 0:
            m = _SCRIPT_DATA.search(html, p)
            if m is None:
                return n
            if html[m.start() + 1] == 0x2F:  # '/'
                return m.start()
            state, p = 1, m.start() + 2
        elif state == 1:
            m = _SCRIPT_ESCAPED.search(html, p)
            if m is None:
                return n
            tok = html[m.start() + 1]
            if tok == 0x2D:  # '-->'
                state, p = 0, m.end()
            elif tok == 0x2F:
                return m.start()
            else:
                state, p = 2, m.end()
        else:
            m = _SCRIPT_DOUBLE.search(html, p)
            if m is None:
                return n
            if html[m.start() + 1] == 0x2D:
                state, p = 0, m.end()
            else:
                state, p = 1, m.end()


def raw_text_end(html: bytes, name: bytes, p: int) -> tuple[int, int]:
    """`p` just past the start tag of a raw text / RCDATA / script / plaintext element.

    Returns (start of its end tag, position past the end tag); both len(html) when unclosed.
    """
    n = len(html)
    if name == b"plaintext":
        return n, n
    if name == b"script":
        q = script_end(html, p)
    else:
        m = _RAWTEXT_END[name].search(html, p)
        q = n if m is None else m.start()
    if q >= n:
        return n, n
    e = end_tag_end(html, q)
    return (n, n) if e is None else (q, e)


def attributes(raw: bytes) -> dict[bytes, bytes]:
    """Attributes of a start tag (the bytes between its name and '>'): lower-case names, raw values; first wins."""
    # findall builds the tuples at C speed; a plain loop (no comprehension frame) keeps the first of a
    # repeated name. Exactly one value group matched (or none: no value), so `or` picks it, b"" for empty.
    out: dict[bytes, bytes] = {}
    for name, dq, sq, bare in ATTR.findall(raw):
        name = name.lower()
        if name not in out:
            out[name] = dq or sq or bare
    return out
