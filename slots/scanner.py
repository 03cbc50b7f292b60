"""scan(): find the slots, the page's own item and the tag position in HTML bytes.

Rule: cheap first, exact where it matters. A page without `data-slot` costs a
regex search plus a tokenizer pass over the head (to place the tag). The head
is walked exactly: one possessive regex skips ordinary tags and whole units
that change nothing (comments, plain <meta>, closed raw text) at C speed and
stops at the constructs that change meaning. After the head, one Aho-Corasick
pass finds the markers and the places such constructs may start, and the walk
hops between them, trusting "a tag ends at its first '>'" only where one
check (translate + vectorised searches) found no quoted attribute value
holding a '>'. Each slot found is then tokenized exactly as a fragment, items
and templates in one regex step each where they are plain. scan_exact() walks
every tag instead: the reference the fast path must equal. Never raises:
anything unexpected becomes a Problem and the page passes through.

Markers must be written in lower case (`data-slot`, `data-page-item`): the
fast path looks for those exact bytes. After the head, a slot or page item on
<head>, <body> or <meta> counts only with its marker so written (the walks
no longer stop at those tags there).
"""

from __future__ import annotations

import itertools
import re
from operator import attrgetter

import ahocorasick_rs

from slots import charset as cs
from slots import tokenizer as tk
from slots.memo import ScanMemo
from slots.model import SLOT_TYPES, Item, Problem, ScannedPage, Slot, SlotLayout

MAX_SLOT_BYTES = 256 * 1024  # a slot larger than this is left as it is
MAX_ITEMS = 500  # items per slot beyond this: the slot is left as it is

_INTERESTING_START = (rb"script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|plaintext|template|svg|math"
                      rb"|head|body|meta|select|frameset")
_INTERESTING_END = rb"template|svg|math|head|select"


def _alternation(words: set[bytes] | frozenset[bytes]) -> bytes:
    """A regex matching exactly `words`, as a trie (`br|base` -> `b(?:r|ase)`): sre tries the branches of an
    alternation one by one, so at each '<' it now tries the names sharing its first letter, not all of them."""
    groups: dict[bytes, list[bytes]] = {}
    empty = False
    for w in sorted(set(words)):
        if w:
            groups.setdefault(w[:1], []).append(w[1:])
        else:
            empty = True
    alts = [re.escape(k) + (_alternation(set(rest)) if rest != [b""] else b"") for k, rest in groups.items()]
    if len(alts) == 1 and not empty:
        return alts[0]
    return b"(?:" + b"|".join(alts) + (b")?" if empty else b")")


_NO_DATA = rb"(?![Dd][Aa][Tt][Aa]-)"  # attribute names: not data-*, in any case
# A whole comment, ending where tokenizer.comment_end() says (`<!-->` and `<!--->` at once).
_COMMENT = rb"<!--(?:>|->|[^-]*+(?:-(?!-!?>)[^-]*+)*+--!?>)"


def _skip(units: bool = True) -> re.Pattern[bytes]:
    """Everything that cannot change how later bytes are read nor mark a slot, possessively.

    Ordinary tags; and (`units`) whole units that _token() would read and drop without a trace (each only
    when it ends before the next marker, the match's endpos, and its start tag has no attribute
    named data-*, in any case): a comment, a doctype or bogus comment (not CDATA), a <head>, a
    <meta> without charset / http-equiv, a raw text or RCDATA element (not noscript, whose reading
    depends on where it is, nor plaintext, nor script: sre's walk through script text is slower than
    tokenizer.script_end's search) closed by its end tag. Everything else stops the match.
    """
    d = rb"(?=[\t\n\f\r />])"
    no_data = tk.attributes_pattern(_NO_DATA)
    no_meta = tk.attributes_pattern(rb"(?![Dd][Aa][Tt][Aa]-|(?i:charset|http-equiv)[\t\n\f\r /=>])")
    whole = [_COMMENT, rb"<!(?!--|\[CDATA\[)[^>]*+>", rb"<\?[^>]*+>",
             rb"<(?i:head)" + d + no_data + rb">", rb"<(?i:meta)" + d + no_meta + rb">"]
    for name in (b"style", b"title", b"textarea", b"xmp", b"iframe", b"noembed", b"noframes"):
        whole.append(rb"<(?i:" + name + rb")" + d + no_data + rb">[^<]*+(?:<(?!/(?i:" + name + rb")[\t\n\f\r />])[^<]*+)*+</(?i:"
                     + name + rb")" + d + tk.ATTRS + rb">")
    return re.compile(
        rb"(?:[^<]++|<(?![A-Za-z/!?])"
        rb"|<(?!(?i:" + _alternation(set(_INTERESTING_START.split(b"|"))) + rb")[\t\n\f\r />])[A-Za-z][^\t\n\f\r />]*+"
        + tk.ATTRS + rb">"
        rb"|</(?!(?i:" + _alternation(set(_INTERESTING_END.split(b"|"))) + rb")[\t\n\f\r />])[A-Za-z][^\t\n\f\r />]*+"
        + tk.ATTRS + rb">"
        + (b"|" + b"|".join(whole) if units else b"") + rb")*+"
    )


_SKIP = _skip()
# Fast path (after the head): where the exact walk would have to stop. The constructs that
# change how later bytes are read (comments, bogus comments, raw text, template, foreign
# content, select, frameset) and the end tags that close them; ASCII case-insensitive. Not
# <head>, <body>, <meta> nor </head>: once the head is done (hops come only then) they change nothing
# (_start_tag() reads a slot or page item on them only where a marker stands, as on any tag).
_AFTER_HEAD_INERT = frozenset((b"head", b"body", b"meta"))
_BODY_START = b"|".join(w for w in _INTERESTING_START.split(b"|") if w not in (b"head", b"body", b"meta"))
_BODY_END = b"|".join(w for w in _INTERESTING_END.split(b"|") if w != b"head")
_OPENER = re.compile(rb"<(?:[!?]|/(?![a-z])|/(?:" + _BODY_END + rb")[\t\n\f\r />]|(?:"
                     + _BODY_START + rb")[\t\n\f\r />])", re.IGNORECASE)
_MARKER_DELIMS = b"\t\n\f\r /=>"
_GAP_MEMO_MIN = 2048  # shorter stretches are checked afresh: cheaper than the lookup
_CLEAN_TAIL = 4096  # the first hop's quoted-'>' check reaches this far past the last marker


def _any_case(word: bytes) -> list[bytes]:
    return [bytes(v) for v in itertools.product(*((c, c ^ 0x20) if 0x61 <= c <= 0x7A else (c,) for c in word))]


def _hit_patterns() -> tuple[list[bytes], int]:
    """Literal patterns for one Aho-Corasick pass: the markers from their '-' on (each with the byte that must
    follow; the hit is a marker when 'data' stands before it), then a superset of _OPENER's matches: '<' and
    the first bytes of every opener, in every letter case.

    Every pattern starts with '<' or '-', both rarer in HTML than 'd': the automaton skips to those bytes
    (memchr) instead of stepping through every 'd' (a 60 KB page: 40 -> 26 us)."""
    markers = [w + bytes([d]) for w in (b"-slot", b"-page-item") for d in _MARKER_DELIMS]
    openers = {b"<!", b"<?"} | {b"</" + bytes([c]) for c in range(256) if not (0x41 <= (c & ~0x20) <= 0x5A)}
    for name in _BODY_START.split(b"|"):
        openers.update(b"<" + v for v in _any_case(name[:4]))
    for name in _BODY_END.split(b"|"):
        openers.update(b"</" + v for v in _any_case(name[:3]))
    return markers + sorted(openers), len(markers)


_HIT_PATTERNS, _N_MARKER_PATTERNS = _hit_patterns()
# One pass over the page at compiled speed: marker offsets and opener candidates (verified by _OPENER).
_HITS = ahocorasick_rs.BytesAhoCorasick(_HIT_PATTERNS, implementation=ahocorasick_rs.Implementation.DFA)
# Everything but '=', quotes and '>': deleted to test a stretch for quoted values holding '>'.
_NOT_QUOTING = bytes(c for c in range(256) if c not in b"=\"'>")
# A quoted attribute value holding a '>' (or text that looks like one): what _quoted_gt() looks for.
_QUOTED_GT = re.compile(rb"=[\t\n\f\r ]*+(?:\"[^\">]*+>|'[^'>]*+>)")
_OPEN_AT_END = (b"=", b'="')


def _finder(pattern: bytes):  # type: ignore[no-untyped-def]
    return ahocorasick_rs.BytesAhoCorasick([pattern]).find_matches_as_indexes


# After _NOT_QUOTING: what follows an '=' that does not open an empty-looking '""', most frequent last.
_NOT_EMPTY_VALUE = tuple(_finder(p) for p in (b'="=', b'=">', b"==", b"=>"))
_NOT_EMPTY_VALUE_OR_SQ = _NOT_EMPTY_VALUE + tuple(_finder(p) for p in (b"='", b"=\"'"))
_ANY_MARKER = re.compile(rb"data-(?:slot|page-item)")  # one pass instead of two `in` tests on pages without slots
_MARKER = re.compile(rb"data-(?:slot|page-item)(?=[\t\n\f\r /=>])")
_MARKER_ASSIGNED = re.compile(rb"data-slot[\t\n\f\r ]*=")
_SLOT_NAME_IN_TEXT = re.compile(rb"""data-slot[\t\n\f\r ]*=[\t\n\f\r ]*["']?([^"'\t\n\f\r >]*)""")
_P_CLOSERS = frozenset(b"address article aside blockquote details div dl fieldset figcaption figure footer header "
                       b"h1 h2 h3 h4 h5 h6 hr main menu nav ol p pre section table ul".split())


def scan(html: bytes, *, charset: str | None = None, memo: ScanMemo | None = None) -> ScannedPage:
    """Find slots, the page item and the tag offset in `html`. Never raises.

    With a `memo` kept across calls, a slot whose bytes were scanned before (on any page) is not parsed again.
    """
    return _scan(html, charset, fast=True, memo=memo)


def scan_exact(html: bytes, *, charset: str | None = None) -> ScannedPage:
    """scan() without the fast path: the exact walk over every tag. The reference scan() must equal."""
    return _scan(html, charset, fast=False)


def _scan(html: bytes, charset: str | None, fast: bool, memo: ScanMemo | None = None) -> ScannedPage:
    try:
        return _Scanner(html, charset, fast, memo).run()
    except Exception as exc:  # never break a page: report and pass through
        return ScannedPage(problems=(Problem(f"scanner error: {type(exc).__name__}: {exc}"),), size=len(html))


def _quoted_gt(stretch: bytes) -> bool:
    """Whether a quoted attribute value in `stretch` (ordinary markup) may hold a '>'."""
    seg = stretch.translate(None, _NOT_QUOTING)
    # The common case first: every '=' opens an empty-looking '""' (no '=', "'" nor '>' in any double-quoted
    # value, no single-quoted value), so no quoted value holds a '>'. Over seg's four bytes that is: it ends
    # in neither '=' nor '="', and no '=' is followed by '=', "'" or '>', nor '="' by one of them. One
    # search per such pair or triple (single-pattern searches are vectorised; counting the '=' and the
    # '=""' took twice as long), the two with "'" only when there is one.
    if not seg.endswith(_OPEN_AT_END) and not any(
            search(seg) for search in (_NOT_EMPTY_VALUE if b"'" not in seg else _NOT_EMPTY_VALUE_OR_SQ)):
        return False
    # Otherwise (a value holding '=', as query strings do, or a single-quoted one) look at the bytes
    # themselves: an '=', blanks, a quote, then that quote's value reaching a '>' (sre stops at every
    # '=': slower, but exact where the translated bytes cannot tell a value's '=' from an attribute's).
    return _QUOTED_GT.search(stretch) is not None


def _codec(charset: str | None) -> str | None:
    """`charset` when bytes decode with it (then cs.decode_text(raw, charset) is raw.decode(charset, "replace"))."""
    if charset is None:
        return None
    try:
        b"".decode(charset, "replace")
    except LookupError:
        return None
    return charset


def _int(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip(tk.WS)
    if not raw.isdigit() or len(raw) > 6:
        return None
    return int(raw)


class _Scanner:
    __slots__ = ("html", "n", "charset", "markers", "mi", "problems", "slots", "names", "page_item",
                 "tag_offset", "meta_end", "head_done", "template_depth", "foreign_depth", "in_select", "frameset",
                 "fast", "candidates", "ci", "opener", "memo", "page_item_tag",
                 "meta_csp", "codec", "utf8", "hits_due", "hits_end", "clean_until", "clean_checked")

    def __init__(self, html: bytes, charset: str | None, fast: bool = True, memo: ScanMemo | None = None) -> None:
        self.html = html
        self.n = len(html)
        self.charset = charset
        self.codec: str | None = None  # the charset, once known to decode (cs.decode_text's first choice)
        self.utf8 = False  # the codec is UTF-8: a tag's attributes may be decoded at once (_unit_item)
        self.problems: list[Problem] = []
        self.slots: list[Slot] = []
        self.names: dict[str, int] = {}
        self.page_item: Item | None = None
        self.page_item_tag: tuple[int, int] | None = None
        self.meta_csp: list[str] = []
        self.tag_offset: int | None = None
        self.meta_end = 0
        self.head_done = False
        self.template_depth = 0
        self.foreign_depth = 0
        self.in_select = False  # the tree builder drops or moves most elements inside <select>
        self.frameset = False  # after <frameset> the tree builder drops body content
        self.markers: list[int] = []
        self.mi = 0
        self.fast = fast
        self.memo = memo if fast else None  # the exact walk is the reference: it never reuses
        self.candidates: list[int] = []  # fast path: offsets where an _OPENER match may start
        self.ci = 0  # candidates[:ci] lie before the last hop
        self.opener = -1  # absolute offset of the next _OPENER match (n: none left)
        self.hits_due = False  # fast path: markers holds the first marker only, _hits() is still to run
        self.hits_end = 0  # _hits() looked up to here
        self.clean_until = -1  # no quoted attribute value holds a '>' from the first hop up to here (fast path)
        self.clean_checked = False  # that check was made (once, by the first hop)

    # -- driver ---------------------------------------------------------
    def run(self) -> ScannedPage:
        html = self.html
        charset, refusal = cs.page_charset(html, self.charset)
        self.charset = charset
        self.codec = _codec(charset)
        self.utf8 = self.codec is not None and cs.is_utf8(self.codec)
        if refusal is not None:
            return ScannedPage(problems=(Problem(refusal),), size=self.n, charset=charset)
        if self.fast:
            first = _MARKER.search(html)
            if first is not None:  # the head is walked exactly: _hits() waits for its end (or this marker)
                self.markers.append(first.start())
                self.hits_due = True
        elif _ANY_MARKER.search(html) is not None:
            self.markers = [m.start() for m in _MARKER.finditer(html)]
        self._walk()
        if self.tag_offset is not None:
            self._check_late_meta()
        slots = self._drop_duplicates()
        return ScannedPage(slots=tuple(slots), problems=tuple(self.problems), tag_offset=self.tag_offset,
                           page_item=self.page_item, size=self.n, charset=charset, page_item_tag=self.page_item_tag,
                           meta_csp=tuple(self.meta_csp))

    def _walk(self) -> None:
        html, n = self.html, self.n
        skip = _SKIP.match
        pos = 0
        while pos < n:
            markers = self.markers  # _hits() may have replaced it
            while self.mi < len(markers) and markers[self.mi] < pos:
                self.mi += 1
            if self.hits_due and (self.head_done or self.mi >= len(markers)):
                self._hits(pos)
                continue
            if self.mi >= len(markers) and self.head_done:
                return
            stop = markers[self.mi] if self.mi < len(markers) else n
            if self.fast and self.head_done and stop < n:
                p = self._hop(pos, stop)
            else:
                p = skip(html, pos, stop).end()
            if p >= stop:
                pos = stop + 1 if stop < n else n  # a marker in text: nothing to do
                continue
            pos = self._token(p)

    def _hits(self, start: int) -> None:
        """Markers (as _MARKER finds them) and opener candidates from `start` on, in one Aho-Corasick pass.

        Only up to the last marker: past it the walk has nothing to find (two reverse searches over
        the tail cost less than the automaton there). Matches do not overlap (cheaper): a marker
        preceded by 'data' overlaps no opener pattern, and the one opener pattern that may hold the
        start of another ('</' and a '<') is a bogus comment the walk reads past that start anyway."""
        html = self.html
        last = html.rfind(b"data-slot")
        last = max(last, html.rfind(b"data-page-item", max(last, start)))
        markers: list[int] = []
        candidates = self.candidates
        if last >= start:
            k = _N_MARKER_PATTERNS
            self.hits_end = min(self.n, last + len(b"data-page-item") + 1)
            view = memoryview(html)[start:self.hits_end]
            for i, s, _ in _HITS.find_matches_as_indexes(view):  # in order: they do not overlap
                s += start
                if i >= k:
                    candidates.append(s)
                elif s >= 4 and html.startswith(b"data", s - 4):  # '-slot' of 'data-slot'
                    markers.append(s - 4)
        self.markers, self.mi, self.hits_due = markers, 0, False

    def _next_opener(self, pos: int) -> int:
        """Offset of the first _OPENER match at or after `pos` (n: none): the first candidate that matches."""
        candidates, i, html, match = self.candidates, self.ci, self.html, _OPENER.match
        while i < len(candidates):
            c = candidates[i]
            if c >= pos and match(html, c) is not None:
                self.ci = i
                return c
            i += 1
        self.ci = i
        return self.n

    def _hop(self, pos: int, stop: int) -> int:
        """Where the exact walk from `pos` must stop before `stop` (what `_SKIP.match(html, pos, stop).end()`
        returns, less the <head>, <body> and <meta> tags that change nothing once the head is done),
        without tokenizing every tag on the way.

        `pos` is in the data state and a marker is at `stop`. Let `e` be the first opener at or after
        `pos` (or `stop`). If no quoted attribute value between `pos` and `e` holds a '>', every tag
        there ends at its first '>', so `e` lies inside the tag (if any) opened after the last '>'
        before it: the walk must stop at that tag, else at `e` itself. Otherwise: the exact walk.
        """
        html = self.html
        if self.opener < pos:
            self.opener = self._next_opener(pos)
        e = min(self.opener, stop)
        if not self.clean_checked:
            # Once, from the first hop: the whole stretch up to the last marker and a little past it (where
            # the last slot's content usually ends). Clean, and neither the hops in it nor the slots parsed
            # in it check again; else each gap is checked on its own, as below.
            self.clean_checked = True
            far = html.find(b">", min(self.n, self.hits_end + _CLEAN_TAIL))  # end on a '>': no value cut in two
            far = self.n if far < 0 else far + 1  # (a cut value makes the counts disagree: the slower search)
            if not self._quoted_gt_at(pos, far):
                self.clean_until = far
        if pos < e and e > self.clean_until and html.find(b"=", pos, e) >= 0:
            if self._quoted_gt_at(pos, e):
                return _SKIP.match(html, pos, stop).end()
        g = html.rfind(b">", pos, e)
        i = pos if g < 0 else g + 1
        n = self.n
        while True:
            i = html.find(b"<", i, e)
            if i < 0:
                return e
            c = html[i + 1] if i + 1 < n else 0
            if 0x61 <= (c | 0x20) <= 0x7A or c == 0x2F:
                return i
            i += 1

    def _quoted_gt_at(self, pos: int, end: int) -> bool:
        """_quoted_gt(html[pos:end]), remembered in the memo for long stretches."""
        html = self.html
        memo = self.memo if end - pos >= _GAP_MEMO_MIN else None
        quoted_gt = None if memo is None else memo.gap_verdict(html, pos, end)
        if quoted_gt is None:
            quoted_gt = _quoted_gt(html[pos:end])
            if memo is not None:
                memo.remember_gap(html, pos, end, quoted_gt)
        return quoted_gt

    def _skipped(self, start: int, end: int, where: str | bytes) -> None:
        """Markers inside a region that is not markup (comment, raw text...) are reported when they look like slots."""
        if self.hits_due and end > self.markers[-1]:  # every marker in there, not only the first
            self._hits(start)
        markers = self.markers
        while self.mi < len(markers) and markers[self.mi] < end:
            at = markers[self.mi]
            self.mi += 1
            if at >= start and _MARKER_ASSIGNED.match(self.html, at):
                m = _SLOT_NAME_IN_TEXT.match(self.html, at)
                name = cs.decode_text(m.group(1), self.charset) if m else None
                if isinstance(where, bytes):  # a raw text element's name
                    where = f"<{where.decode()}>"
                self.problems.append(Problem(f"data-slot inside {where}: left as is", name, at))

    def _token(self, p: int) -> int:
        """`html[p] == '<'` and it is not an ordinary tag: handle it, return the position after it."""
        html, n = self.html, self.n
        c = html[p + 1] if p + 1 < n else 0
        if c == 0x21:  # '!'
            if html.startswith(b"<!--", p):
                e = tk.comment_end(html, p)
                self._skipped(p, e, "a comment")
                return e
            e = tk.markup_declaration_end(html, p)
            self._skipped(p, e, "a markup declaration")
            return e
        if c == 0x3F:  # '?'
            e = tk.markup_declaration_end(html, p)
            self._skipped(p, e, "a bogus comment")
            return e
        if c == 0x2F:  # '/'
            d = html[p + 2] if p + 2 < n else 0
            if d == 0x3E:
                return p + 3
            if not (0x41 <= d <= 0x5A or 0x61 <= d <= 0x7A):
                if p + 2 >= n:
                    return n
                e = tk.markup_declaration_end(html, p)
                self._skipped(p, e, "a bogus comment")
                return e
            m = tk.END_TAG.match(html, p)
            if m is None:
                self._skipped(p, n, "an unterminated tag")
                return n
            self._end_tag(m.group(1).lower(), p)
            return m.end()
        m = tk.START_TAG.match(html, p)
        if m is None:
            self._skipped(p, n, "an unterminated tag")
            return n
        return self._start_tag(m, p)

    def _end_tag(self, name: bytes, p: int) -> None:
        if name == b"template":
            if self.template_depth:
                self.template_depth -= 1
        elif name in tk.FOREIGN:
            if self.foreign_depth:
                self.foreign_depth -= 1
        elif name == b"select":
            self.in_select = False
        elif name == b"head" and not self.head_done and self._safe():
            if p >= self.meta_end:
                self.tag_offset = p
            self.head_done = True

    def _safe(self) -> bool:
        return self.template_depth == 0 and self.foreign_depth == 0

    def _start_tag(self, m: re.Match[bytes], p: int) -> int:
        html = self.html
        name = m.group(1).lower()
        end = m.end()
        raw_attrs = m.group(2)
        attrs = tk.attributes(raw_attrs) if b"data-" in raw_attrs or name == b"meta" else None
        if attrs and self.head_done and name in _AFTER_HEAD_INERT and not (
                self.mi < len(self.markers) and self.markers[self.mi] < end):
            attrs = None  # no marker written as such: the fast path does not stop at this tag (see _OPENER)
        if attrs:
            if b"data-slot" in attrs:
                # consume markers of this tag
                while self.mi < len(self.markers) and self.markers[self.mi] < end:
                    self.mi += 1
                got = self._slot(m, p, name, attrs, None)
                if got is not None:
                    return got
            elif b"data-page-item" in attrs and self.page_item is None and self._safe():
                self.page_item = self._item(attrs, page=True)
                if self.page_item is not None:
                    self.page_item_tag = (p, end)
        if name == b"script" or name in tk.RAWTEXT or name == b"plaintext":
            if name == b"noscript" and not self._safe():
                return end
            q, e = tk.raw_text_end(html, name, end)
            self._skipped(end, q, name)
            return e
        if name == b"template":
            self.template_depth += 1
        elif name in tk.FOREIGN:
            if not m.group(0).endswith(b"/>"):
                self.foreign_depth += 1
        elif name == b"select":
            self.in_select = True
        elif name == b"frameset":
            self.frameset = True
        elif name == b"body":
            if not self.head_done and self._safe():
                self.head_done = True
                if end >= self.meta_end:
                    self.tag_offset = end
        elif name == b"meta" and attrs is not None and not self.head_done:
            equiv = attrs.get(b"http-equiv", b"").strip(tk.WS).lower()
            if b"charset" in attrs or equiv == b"content-type":
                self.meta_end = end
            elif equiv == b"content-security-policy" and self._safe() and b"content" in attrs:
                self.meta_csp.append(self._text(attrs[b"content"]) or "")  # browsers enforce it from the head only
        return end

    def _check_late_meta(self) -> None:
        """A <meta charset> within the first 1024 bytes but after the tag position would be pushed out of reach."""
        off = self.tag_offset
        assert off is not None
        if off < 1024 and cs._META_CHARSET.search(self.html, off, 1024):
            self.problems.append(Problem("a <meta charset> follows the tag position: no tag", None, off))
            self.tag_offset = None

    # -- items ----------------------------------------------------------
    def _text(self, raw: bytes | None) -> str | None:
        if raw is None:
            return None
        codec = self.codec
        s = raw.decode(codec, "replace") if codec is not None else cs.decode_text(raw, self.charset)
        return _unescape(s) if "&" in s else s

    def _item(self, attrs: dict[bytes, bytes], page: bool = False) -> Item | None:
        get, text = attrs.get, self._text
        raw_id = get(b"data-item")
        if page and (raw_id is None or not raw_id.strip(tk.WS)):
            raw_id = get(b"data-page-item")
        if raw_id is None:
            return None
        ident = text(raw_id).strip()  # type: ignore[union-attr]
        if not ident:
            return None
        raw = get(b"data-tags")
        if raw is None:
            tags: tuple[str, ...] = ()
        else:
            joined: str = text(raw)  # type: ignore[assignment]
            # No ' ' and printable: no whitespace at all (the others are controls or separators), nothing to strip.
            bare = " " not in joined and joined.isprintable()
            tags = tuple(filter(None, joined.split(",") if bare else map(str.strip, joined.split(","))))
        title, url, image = get(b"data-title"), get(b"data-url"), get(b"data-image")
        price, category = get(b"data-price"), get(b"data-category")
        return Item(id=ident, tags=tags, title=None if title is None else text(title), url=None if url is None else text(url),
                    image=None if image is None else text(image), price=None if price is None else text(price),
                    category=None if category is None else text(category))

    # -- slots ----------------------------------------------------------
    def _slot(self, m: re.Match[bytes], p: int, name: bytes, attrs: dict[bytes, bytes], parent: str | None) -> int | None:
        """A start tag with data-slot at p. Returns where scanning resumes, or None to scan on through it."""
        slot_name = (self._text(attrs.get(b"data-slot")) or "").strip()
        if not slot_name:
            self.problems.append(Problem("empty data-slot name", None, p))
            return None
        if self.template_depth or self.foreign_depth or self.in_select or self.frameset or name in _NO_SLOT_ELEMENTS:
            if self.template_depth:
                where = "inside <template>"
            elif self.foreign_depth:
                where = "inside <svg>/<math>"
            elif self.in_select:
                where = "inside <select>"
            elif self.frameset:
                where = "in a <frameset> page"
            else:
                where = f"<{name.decode(errors='replace')}> cannot hold a slot"
            self.problems.append(Problem(f"slot {where}: left as is", slot_name, p))
            return None
        memo = self.memo
        if memo is not None:
            hit = memo.lookup(self.html, p, m.group(0), self.charset, parent)
            if hit is not None:
                found, problems, end = hit
                for s in found:
                    self.names[s.name] = self.names.get(s.name, 0) + 1
                self.slots.extend(found)
                self.problems.extend(problems)
                return end
        problems_before = len(self.problems)
        stype = (self._text(attrs.get(b"data-slot-type")) or "").strip().lower()
        if stype not in SLOT_TYPES:
            self.problems.append(Problem(f"unknown slot type {stype!r}: left as is", slot_name, p))
            return None
        frag = _Fragment(self, m, p, name, slot_name)
        problem = frag.parse_fast() if self.fast else frag.parse()
        if problem is not None:
            self.problems.append(Problem(problem, slot_name, p))
            return None
        self.names[slot_name] = self.names.get(slot_name, 0) + 1
        slot = Slot(
            name=slot_name, type=stype, start=p, end=frag.end, items=tuple(frag.items),  # type: ignore[arg-type]
            variants=tuple(frag.variant_names), limit=_int(attrs.get(b"data-limit")),
            max_items=_int(attrs.get(b"data-slot-max")), has_template=frag.template is not None, parent=parent,
            layout=SlotLayout(open_end=m.end(), name_end=p + 1 + len(m.group(1)), content_end=frag.content_end,
                              items=tuple(frag.item_spans), template=frag.template, variants=tuple(frag.variant_spans)),
        )
        self.slots.append(slot)
        self.slots.extend(frag.nested)
        if memo is not None:
            memo.remember(self.html, m.group(0), self.charset, parent, [slot, *frag.nested], self.problems[problems_before:])
        return frag.end

    def _drop_duplicates(self) -> list[Slot]:
        dup = {k for k, v in self.names.items() if v > 1}
        if not dup:
            return sorted(self.slots, key=_START)
        out = []
        for s in sorted(self.slots, key=_START):
            if s.name in dup:
                self.problems.append(Problem("duplicate slot name: every copy left as is", s.name, s.start))
            else:
                out.append(s)
        return out


# tokenizer.ATTR with one value group, for attributes whose quoted values are all closed (as in any tag
# tokenizer.ATTRS matches, or in a clean stretch): (name, value) pairs, the value without its quotes ('' when
# there is none): the group after an opening quote reads up to it, after none it is the unquoted value. A
# name holding an ASCII upper-case letter (which tokenizer.attributes() would lower) is paired as ''.
_ATTR_PAIRS = re.compile(
    r"""(?:([^\t\n\f\r />A-Z][^\t\n\f\r />=A-Z]*+)(?![^\t\n\f\r />=])|[^\t\n\f\r />][^\t\n\f\r />=]*+)"""
    r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+["']?((?<=")[^"]*+|(?<=')[^']*+|[^\t\n\f\r >]*+)["']?)?"""
)


def _decoded_attributes(raw_attrs: bytes) -> dict[str, str] | None:
    """For a UTF-8 page and a tag's attributes (quoted values closed, see _ATTR_PAIRS):
    {name: _Scanner._text(value)} for tk.attributes(raw_attrs), when that is simple to
    get: the attributes decoded at once (a value's bytes end at an ASCII quote or blank, so they decode as
    they would alone) and paired by one findall. None when not that simple (a character reference, a
    repeated name, a name with ASCII upper case): the caller takes the general way."""
    text = raw_attrs.decode("utf-8", "replace")
    if "&" in text:
        return None
    pairs = _ATTR_PAIRS.findall(text)
    attrs = dict(pairs)
    if len(attrs) != len(pairs) or "" in attrs:
        return None
    return attrs


def _unit_item(raw_attrs: bytes) -> Item | None | bool:
    """_Scanner._item(tk.attributes(raw_attrs)) in one step, for a UTF-8 page (see _decoded_attributes).
    None: no item (nor a data-slot); False: not that simple, or a data-slot: the caller takes the general way."""
    attrs = _decoded_attributes(raw_attrs)
    if attrs is None or "data-slot" in attrs:
        return False
    get = attrs.get
    ident = get("data-item")
    if ident is None:
        return None
    ident = ident.strip()
    if not ident:
        return None
    joined = get("data-tags")
    if joined is None:
        tags: tuple[str, ...] = ()
    elif " " not in joined and joined.isprintable():
        parts = joined.split(",")
        tags = tuple(filter(None, parts)) if "" in parts else tuple(parts)
    else:
        tags = tuple(filter(None, map(str.strip, joined.split(","))))
    return Item(ident, tags, get("data-title"), get("data-url"), get("data-image"), get("data-price"),
                get("data-category"))


_START = attrgetter("start")
_NO_SLOT_ELEMENTS = tk.VOID | tk.RAWTEXT | tk.FOREIGN | {b"script", b"plaintext", b"template"}


def _unescape(s: str) -> str:
    if "&" not in s:
        return s
    import html as _html

    return _html.unescape(s)


_FRAG_TOKEN = re.compile(rb"<(?:(/?)([A-Za-z])|!|\?)")
# parse_fast(): a whole tag (its '>' optional, so a tag the cap cuts is still seen), or '<!' / '<?'.
_IMPLIES_END = frozenset((b"li", b"dt", b"dd", b"option")) | _P_CLOSERS
_RAW = tk.RAWTEXT | {b"script", b"plaintext"}


def _frag_token(lax: bool, clean: bool = False) -> re.Pattern[bytes]:
    """parse_fast()'s token: skip inert units, then a whole element made of inert units (a "unit", typically
    an item: groups 2 '<', 3 name, 4 attributes, 5 '>', 7 '</' of its end tag), or a whole tag (its '>'
    optional, so a tag the cap cuts is still seen; group 12 None) or '<!' / '<?' (groups 8-12: 8 '<',
    9 '/', 10 name, 11 attributes, 12 '>').

    `clean`: for stretches where no quoted attribute value holds a '>' (every tag ends at its first
    '>'): attributes are `[^>]*`, and inert tags hold no `data-` at all (stricter, never skips more).

    Inert: text (a '<' that starts no token is text, as in parse()); a void element, or an element
    holding only text, whose attribute names do not start with data- and whose start tag closes no
    open element. `lax` (no <p> is open): p-closing start tags count as closing nothing. Names are
    matched in lower case only (case-sensitive alternations are much cheaper in sre): an upper-case
    tag is simply not skipped.

    A unit is an element (any attributes; not <p>, nor one whose start tag may close an open element)
    holding only inert units, closed by its own end tag: the stack would take it and give it back with
    nothing in between, so parse_fast() reads it in one step (its start tag and its end).
    """
    delim = rb"(?=[\t\n\f\r />])"
    text = rb"(?:[^<]++|<(?![A-Za-z!?]|/[A-Za-z]))"
    attrs = rb"[^>]*+" if clean else tk.ATTRS
    # clean: no data- anywhere in the tag (stricter than no attribute *named* data-*: fewer units skipped, never more)
    no_data_attrs = rb"(?:[^>Dd]++|[Dd](?![Aa][Tt][Aa]-))*+" if clean else tk.attributes_pattern(_NO_DATA)
    voids = set(tk.VOID) if lax else set(tk.VOID) - _P_CLOSERS
    closers = set(tk.VOID) | _RAW | tk.FOREIGN | {b"template", b"li", b"dt", b"dd", b"option"}
    if not lax:
        closers |= _P_CLOSERS
    void = rb"<" + _alternation(voids) + delim + no_data_attrs + rb">"

    def pair(group: bytes) -> bytes:
        return (rb"<(?P<" + group + rb">(?!" + _alternation(closers) + delim + rb")[a-z][a-z0-9]*+)"
                + delim + no_data_attrs + rb">" + text + rb"*+</(?P=" + group + rb")" + delim + attrs + rb">")

    inert = rb"(?:" + text + rb"|" + void + rb"|" + pair(b"n") + rb")*+"
    unit = (rb"(<)(?P<u>(?!" + _alternation((closers | {b"p"}) - {b"template"}) + delim + rb")[a-z][a-z0-9]*+)" + delim
            + rb"(" + attrs + rb")(>)(?:" + text + rb"|" + void + rb"|" + pair(b"m") + rb")*+(</)(?P=u)" + delim
            + attrs + rb">")
    return re.compile(inert + rb"(?:" + unit + rb"|(<)(?:(/?)(" + tk.TAGNAME + rb")(" + attrs + rb")(>)?|[!?]))")


# The rest of a <template> in a clean stretch (every tag ends at its first '>'), when it holds only text,
# whole comments and tags that open no raw text, foreign content nor another template, and no bogus
# comment: then its first </template> ends it (group 1), as parse() would find it.
_TEMPLATE_REST = re.compile(
    rb"(?:[^<]++|<(?![A-Za-z!?/])"
    rb"|<(?!(?i:" + _alternation(set(tk.RAWTEXT) | tk.FOREIGN | {b"script", b"plaintext", b"template"})
    + rb")(?=[\t\n\f\r />]))[A-Za-z][^>]*+>"
    rb"|</(?!(?i:template)(?=[\t\n\f\r />]))[A-Za-z][^>]*+>|" + _COMMENT
    + rb")*+(</(?i:template)(?=[\t\n\f\r />])[^>]*+>)"
)
_FRAG_LAX = _frag_token(True)
_FRAG_STRICT = _frag_token(False)
# The same where no quoted attribute value can hold a '>' (Scanner.clean_until): every tag ends at its first '>'.
_FRAG_LAX_CLEAN = _frag_token(True, clean=True)
_FRAG_STRICT_CLEAN = _frag_token(False, clean=True)


class _Fragment:
    """Exact tokenization of one slot: its end, its items, templates and nested slots."""

    __slots__ = ("sc", "m", "p", "name", "slot_name", "end", "content_end", "items", "item_spans", "template",
                 "variant_names", "variant_spans", "nested")

    def __init__(self, sc: _Scanner, m: re.Match[bytes], p: int, name: bytes, slot_name: str) -> None:
        self.sc = sc
        self.m = m
        self.p = p
        self.name = name
        self.slot_name = slot_name
        self.end = 0
        self.content_end = 0
        self.items: list[Item] = []
        self.item_spans: list[tuple[int, int]] = []
        self.template: tuple[int, int, int, int] | None = None
        self.variant_names: list[str] = []
        self.variant_spans: list[tuple[int, int, int, int]] = []
        self.nested: list[Slot] = []

    def parse(self) -> str | None:
        sc, html, n = self.sc, self.sc.html, self.sc.n
        limit = min(n, self.p + MAX_SLOT_BYTES)
        # stack entries: [name, kind, start, extra]; kind: 0 plain, 1 item, 2 template, 3 slot root
        stack: list[list] = [[self.name, 3, self.p, None]]
        item_parent: int | None = None  # start offset of the element holding the items
        in_item = 0
        pos = self.m.end()
        find = _FRAG_TOKEN.search
        seen_ids: set[str] = set()
        while True:
            t = find(html, pos, limit)
            if t is None:
                return "slot larger than the cap: left as is" if limit < n else "unclosed slot: left as is"
            p = t.start()
            if t.group(2) is None:
                if html.startswith(b"<!--", p):
                    pos = tk.comment_end(html, p)
                else:
                    pos = tk.markup_declaration_end(html, p)
                if pos >= n:
                    return "unterminated comment inside slot: left as is"
                continue
            if t.group(1):
                e = tk.END_TAG.match(html, p)
                if e is None:
                    return "unterminated tag inside slot: left as is"
                ename = e.group(1).lower()
                # find it on the stack, not past a template boundary
                i = len(stack) - 1
                while i >= 0 and stack[i][0] != ename and stack[i][1] != 2:
                    i -= 1
                if i < 0 or stack[i][0] != ename:
                    if ename in (b"p", b"br"):
                        pos = e.end()
                        continue
                    if stack[-1][1] == 2 or any(s[1] == 2 for s in stack):
                        pos = e.end()  # stray end tag inside a template: inert
                        continue
                    return f"stray </{ename.decode(errors='replace')}> inside slot: left as is"
                while len(stack) > i:
                    top = stack.pop()
                    self._close(top, e.end() if len(stack) == i else self._trim(top[2], p), p, e.end())
                    if top[1] == 1:
                        in_item -= 1
                if not stack:
                    self.content_end = p
                    self.end = e.end()
                    return None
                pos = e.end()
                continue
            s = tk.START_TAG.match(html, p)
            if s is None:
                return "unterminated tag inside slot: left as is"
            sname = s.group(1).lower()
            send = s.end()
            raw_attrs = s.group(2)
            attrs = tk.attributes(raw_attrs) if b"data-" in raw_attrs else None
            in_template = any(x[1] == 2 for x in stack)
            # implied end tags for elements whose end tag is optional
            if sname in (b"li", b"dt", b"dd", b"option") or (sname in _P_CLOSERS):
                if self._imply_end(stack, sname, p):
                    return f"<{sname.decode(errors='replace')}> would close the slot element itself: left as is"
                in_item = sum(1 for x in stack if x[1] == 1)
            if attrs and b"data-slot" in attrs and not in_template:
                before = len(sc.slots)
                got = sc._slot(s, p, sname, attrs, self.slot_name)
                if got is not None:
                    self.nested.extend(sc.slots[before:])
                    del sc.slots[before:]
                    pos = got
                    continue
            if sname == b"script" or sname in tk.RAWTEXT or sname == b"plaintext":
                q, e2 = tk.raw_text_end(html, sname, send)
                if q >= n:
                    return f"unclosed <{sname.decode()}> inside slot: left as is"
                if attrs and b"data-item" in attrs and not in_item and not in_template:
                    return "an item cannot be a raw text element: left as is"
                pos = e2
                continue
            if sname == b"template" or (attrs is not None and b"data-item" in attrs):
                role = self._role(sname, attrs, bool(in_item), bool(in_template), stack[-1][2], item_parent, seen_ids)
                if isinstance(role, str):
                    return role
                kind, extra, item_parent = role
            else:
                kind, extra = 0, None
            if sname in tk.VOID:
                if kind == 1:
                    self.items.append(extra)
                    self.item_spans.append((p, send))
                pos = send
                continue
            if sname in tk.FOREIGN and s.group(0).endswith(b"/>"):
                pos = send
                continue
            stack.append([sname, kind, p, (extra, send)])
            if kind == 1:
                in_item += 1
            pos = send

    def parse_fast(self) -> str | None:
        """parse(), with one regex match per token that also skips, at C speed, the units that cannot
        change the result (text, void and text-only elements without data- attributes whose start tag
        closes nothing), and depth counters instead of stack scans. Same results as parse()."""
        sc, html, n = self.sc, self.sc.html, self.sc.n
        limit = min(n, self.p + MAX_SLOT_BYTES)
        stack: list[list] = [[self.name, 3, self.p, None]]
        item_parent: int | None = None
        in_item = 0
        in_template = 0  # templates on the stack
        lax = self.name != b"p"  # no <p> open: a p-closing start tag closes nothing
        pos = self.m.end()
        seen_ids: set[str] = set()
        items, item_spans = self.items, self.item_spans
        utf8 = sc.utf8
        clean = min(sc.clean_until, limit)  # up to here every tag ends at its first '>'
        lax_clean, strict_clean = _FRAG_LAX_CLEAN.match, _FRAG_STRICT_CLEAN.match
        while True:
            t = None
            if pos < clean:
                t = (lax_clean if lax else strict_clean)(html, pos, clean)
                if t is not None:
                    _, _, uname, uattrs, _, _, _, _, slash, tname, raw_attrs, gt = t.groups()
                    if uname is None and tname is not None and gt is None:
                        t = None  # a tag running past the clean stretch: read it the exact way
            if t is None:
                t = (_FRAG_LAX if lax else _FRAG_STRICT).match(html, pos, limit)
                if t is None:
                    return "slot larger than the cap: left as is" if limit < n else "unclosed slot: left as is"
                _, _, uname, uattrs, _, _, _, _, slash, tname, raw_attrs, gt = t.groups()
            if uname is not None:  # a whole element of inert units: its start tag, then straight to its end
                p = t.start(2)
                unit_end = t.end()
                if b"data-" not in uattrs:  # plain markup (or a plain <template>): pushed and popped, no trace
                    pos = unit_end
                    continue
                if utf8 and uname == b"template" and not in_item and not in_template:
                    tattrs = _decoded_attributes(uattrs)  # a variant or item template, typically
                    if tattrs is not None and "data-slot" not in tattrs:
                        variant = tattrs.get("data-variant")
                        if "data-item-template" in tattrs and self.template is None:  # as _role() reads it
                            self.template = (p, t.end(5), t.start(7), unit_end)
                        elif variant is not None:
                            variant = variant.strip()
                            if variant and variant not in self.variant_names:
                                self.variant_names.append(variant)
                                self.variant_spans.append((p, t.end(5), t.start(7), unit_end))
                        pos = unit_end
                        continue
                elif utf8 and not in_item and not in_template:
                    item = _unit_item(uattrs)  # an item, typically: attributes and Item at once
                    if item is None:  # no data-item, no data-slot: plain markup
                        pos = unit_end
                        continue
                    if item is not False:  # _admit(), inlined
                        if item_parent is None:
                            item_parent = stack[-1][2]
                        elif item_parent != stack[-1][2]:
                            return "items of the slot have different parents: left as is"
                        if len(items) >= MAX_ITEMS:
                            return "too many items in slot: left as is"
                        ident = item.id  # type: ignore[union-attr]
                        if ident in seen_ids:
                            return f"duplicate item {ident!r} in slot: left as is"
                        seen_ids.add(ident)
                        items.append(item)
                        item_spans.append((p, unit_end))
                        pos = unit_end
                        continue
                attrs = tk.attributes(uattrs)
                if b"data-slot" not in attrs or in_template:  # uname is lower case: [a-z][a-z0-9]*
                    if uname == b"template" or b"data-item" in attrs:
                        role = self._role(uname, attrs, bool(in_item), bool(in_template), stack[-1][2], item_parent,
                                          seen_ids)
                        if isinstance(role, str):
                            return role
                        kind, extra, item_parent = role
                        if kind == 1:
                            items.append(extra)
                            item_spans.append((p, unit_end))
                        elif kind == 2:
                            self._close([uname, 2, p, (extra, t.end(5))], unit_end, t.start(7), unit_end)
                    pos = unit_end
                    continue
                tname, raw_attrs, slash = uname, uattrs, None  # a nested slot: the general way
                pos = end = t.end(5)
            else:
                unit_end = -1
                p = t.start(8)
                if tname is None:  # '<!' or '<?'
                    pos = tk.comment_end(html, p) if html.startswith(b"<!--", p) else tk.markup_declaration_end(html, p)
                    if pos >= n:
                        return "unterminated comment inside slot: left as is"
                    continue
                if gt is None:  # no '>' before the cap: read the tag as parse() does, past the cap
                    t = (tk.END_TAG if slash else tk.START_TAG).match(html, p)
                    if t is None:
                        return "unterminated tag inside slot: left as is"
                    if not slash:
                        raw_attrs = t.group(2)
                pos = end = t.end()
            if slash:
                ename = tname.lower()
                top = stack[-1]
                if top[0] == ename:
                    stack.pop()
                    kind = top[1]
                    if kind == 1 or kind == 2:
                        self._close(top, end, p, end)
                        if kind == 1:
                            in_item -= 1
                        else:
                            in_template -= 1
                    if not stack:
                        self.content_end = p
                        self.end = end
                        return None
                    if not lax and ename == b"p":
                        lax = not any(x[0] == b"p" for x in stack)
                    continue
                i = len(stack) - 1
                while i >= 0 and stack[i][0] != ename and stack[i][1] != 2:
                    i -= 1
                if i < 0 or stack[i][0] != ename:
                    if ename in (b"p", b"br") or in_template:
                        continue  # </p>, </br> and stray end tags inside a template: inert here
                    return f"stray </{ename.decode(errors='replace')}> inside slot: left as is"
                while len(stack) > i:
                    top = stack.pop()
                    self._close(top, end if len(stack) == i else self._trim(top[2], p), p, end)
                    if top[1] == 1:
                        in_item -= 1
                    elif top[1] == 2:
                        in_template -= 1
                if not stack:
                    self.content_end = p
                    self.end = end
                    return None
                if not lax:
                    lax = not any(x[0] == b"p" for x in stack)
                continue
            sname = tname.lower()
            attrs = tk.attributes(raw_attrs) if b"data-" in raw_attrs else None
            if sname in _IMPLIES_END and not (lax and sname in _P_CLOSERS):  # lax: no <p> to close
                if self._imply_end(stack, sname, p):
                    return f"<{sname.decode(errors='replace')}> would close the slot element itself: left as is"
                in_item = sum(1 for x in stack if x[1] == 1)
                if not lax:
                    lax = not any(x[0] == b"p" for x in stack)
            if attrs and b"data-slot" in attrs and not in_template:
                before = len(sc.slots)
                m = tk.START_TAG.match(html, p)
                assert m is not None
                got = sc._slot(m, p, sname, attrs, self.slot_name)
                if got is not None:
                    self.nested.extend(sc.slots[before:])
                    del sc.slots[before:]
                    pos = got
                    continue
            if sname in _RAW:
                q, pos = tk.raw_text_end(html, sname, end)
                if q >= n:
                    return f"unclosed <{sname.decode()}> inside slot: left as is"
                if attrs and b"data-item" in attrs and not in_item and not in_template:
                    return "an item cannot be a raw text element: left as is"
                continue
            if sname == b"template" or (attrs is not None and b"data-item" in attrs):
                role = self._role(sname, attrs, bool(in_item), bool(in_template), stack[-1][2], item_parent, seen_ids)
                if isinstance(role, str):
                    return role
                kind, extra, item_parent = role
            else:
                kind, extra = 0, None
            if unit_end >= 0:  # pushed, nothing inert in it changes a thing, popped by its end tag
                if kind:
                    self._close([sname, kind, p, (extra, end)], unit_end, t.start(7), unit_end)
                pos = unit_end
                continue
            if sname == b"template" and not in_template and end < clean:
                # Nothing inside a template changes the slot (its end tags stop at it, its items and slots
                # are not read): when its content is plain tokens up to its </template>, straight past it.
                rest = _TEMPLATE_REST.match(html, end, clean)
                if rest is not None:
                    if extra is not None:
                        self._close([sname, kind, p, (extra, end)], rest.end(), rest.start(1), rest.end())
                    pos = rest.end()
                    continue
            if sname in tk.VOID:
                if kind == 1:
                    items.append(extra)
                    item_spans.append((p, end))
                continue
            if sname in tk.FOREIGN and t.group(0).endswith(b"/>"):
                continue
            stack.append([sname, kind, p, (extra, end)])
            if kind == 1:
                in_item += 1
            elif kind == 2:
                in_template += 1
            elif sname == b"p":
                lax = False

    def _role(
        self,
        sname: bytes,
        attrs: dict[bytes, bytes] | None,
        in_item: bool,
        in_template: bool,
        parent: int,
        item_parent: int | None,
        seen_ids: set[str],
    ) -> tuple[int, object, int | None] | str:
        """What a start tag is to the slot: (kind, extra, item_parent), or why the slot is left alone.

        kind 2: a <template> (extra names an item template or a variant); kind 1:
        an item (extra is the Item); kind 0: plain markup. Shared by parse() and
        parse_fast(), so the slot rules (one parent, a cap, unique ids) are stated once.
        """
        if sname == b"template":
            extra = None
            if attrs is not None and not in_template and not in_item:
                if b"data-item-template" in attrs and self.template is None:
                    extra = ("t", None)
                elif b"data-variant" in attrs:
                    vname = (self.sc._text(attrs[b"data-variant"]) or "").strip()
                    if vname and vname not in self.variant_names:
                        extra = ("v", vname)
            return 2, extra, item_parent
        if attrs is None or b"data-item" not in attrs or in_item or in_template:
            return 0, None, item_parent
        item = self.sc._item(attrs)
        if item is None:
            return 0, None, item_parent
        admitted = self._admit(item, parent, item_parent, seen_ids)
        if isinstance(admitted, str):
            return admitted
        return 1, item, admitted

    def _admit(self, item: Item, parent: int, item_parent: int | None, seen_ids: set[str]) -> int | str:
        """An item may join the slot (one parent for all, a cap, unique ids): the items' parent, or why not."""
        if item_parent is None:
            item_parent = parent
        elif item_parent != parent:
            return "items of the slot have different parents: left as is"
        if len(self.items) >= MAX_ITEMS:
            return "too many items in slot: left as is"
        if item.id in seen_ids:
            return f"duplicate item {item.id!r} in slot: left as is"
        seen_ids.add(item.id)
        return item_parent

    def _imply_end(self, stack: list[list], sname: bytes, p: int) -> bool:
        """Close an open li/dt/dd/option/p the way the tree builder would before this start tag.

        Returns True when that would close the slot element itself (the caller gives up on the slot).
        """
        if sname == b"li":
            targets, barriers = (b"li",), (b"ul", b"ol", b"menu")
        elif sname in (b"dt", b"dd"):
            targets, barriers = (b"dt", b"dd"), (b"dl",)
        elif sname == b"option":
            if stack[-1][0] != b"option":
                return False
            targets, barriers = (b"option",), ()
        else:
            targets, barriers = (b"p",), (b"button", b"table", b"td", b"th", b"caption", b"object", b"marquee")
        i = len(stack) - 1
        while i >= 0:
            nm, kind = stack[i][0], stack[i][1]
            if kind == 2 or nm in barriers:
                return False
            if nm in targets:
                break
            i -= 1
        else:
            return False
        if i == 0:
            return True
        end = self._trim(stack[i][2], p)
        while len(stack) > i:
            top = stack.pop()
            self._close(top, end, p, p)
        return False

    def _trim(self, start: int, end: int) -> int:
        """An element closed by implication ends before the blanks that precede what closed it."""
        html = self.sc.html
        while end > start and html[end - 1] in tk.WS:
            end -= 1
        return end

    def _close(self, entry: list, end: int, content_end: int, element_end: int) -> None:
        """An element leaves the stack; `end` is where it ends (past its end tag, or where it was implied closed)."""
        kind = entry[1]
        if kind == 1:
            self.items.append(entry[3][0])
            self.item_spans.append((entry[2], end))
        elif kind == 2 and entry[3] is not None and entry[3][0] is not None:
            what, vname = entry[3][0]
            span = (entry[2], entry[3][1], content_end, element_end)
            if what == "t":
                if self.template is None:
                    self.template = span
            else:
                self.variant_names.append(vname)
                self.variant_spans.append(span)
