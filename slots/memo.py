"""ScanMemo: reuse the parse of a slot whose bytes were seen before, on any page.

Rule: a memo entry is only ever applied to the exact bytes it was made from.
A slot's parse (its end, items, templates, nested slots) is a function of the
bytes from its start tag to the end of its end tag, the charset, and the name
of the slot it is nested in: the scanner only looks a slot up once the walk
has established that the slot starts in ordinary markup, and a hit is checked
byte for byte (`bytes.startswith`, a memcmp) before use. Offsets are kept as
parsed and shifted to where the slot sits now (nothing to rebuild when the
page before the slot kept its length).

Sites render slots from the same templates on every page, while the pages
around them differ per response (CSRF tokens, timestamps, cart counters), so
the whole-page scan differs but the slots repeat. Only slots that parsed
cleanly are remembered; anything odd is parsed afresh every time.

Bounded by bytes held (oldest entries go first). Not thread-safe: one memo per
thread (the proxy keeps one per event loop).
"""

from __future__ import annotations

from slots.model import Problem, Slot, SlotLayout

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
MAX_ENTRY_BYTES = 64 * 1024  # larger slots are parsed every time
MAX_GAP_BYTES = 512 * 1024  # stretches between slots up to this size have their verdict remembered
_PER_KEY = 8  # distinct contents remembered per start tag (e.g. variants of one recommendation block)
_OVERHEAD = 512  # bytes charged per entry on top of the slot's own bytes


class _Entry:
    __slots__ = ("raw", "origin", "slots", "problems", "size")

    def __init__(self, raw: bytes, origin: int, slots: tuple[Slot, ...], problems: tuple[Problem, ...]) -> None:
        self.raw = raw  # the slot's bytes, from its '<' to past its end tag's '>'
        self.origin = origin  # where the slot started in the page it was parsed from
        self.slots = slots  # the slot, then the slots nested in it, as parsed there
        self.problems = problems  # what its nested slots reported there
        self.size = len(raw) + _OVERHEAD * (1 + len(slots))


class _GapEntry:
    __slots__ = ("raw", "verdict", "size")

    def __init__(self, raw: bytes, verdict: bool) -> None:
        self.raw = raw  # the stretch's bytes
        self.verdict = verdict  # whether a quoted attribute value in it may hold a '>'
        self.size = len(raw) + _OVERHEAD


class ScanMemo:
    """Pass one to `scan(html, memo=...)` across pages to reuse unchanged slots' parses.

    It also remembers one verdict of the walk between slots, which costs a pass over every byte there:
    whether a stretch of ordinary markup holds a quoted attribute value with a '>' in it (a pure function
    of the stretch's bytes, checked with one startswith as well).
    """

    __slots__ = ("max_bytes", "hits", "misses", "_entries", "_gaps")

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes  # for slots, and as much again for stretches between them
        self.hits = 0  # slots reused
        self.misses = 0  # slots parsed
        self._entries = _Store(max_bytes)  # slots: shared by every page built from the same templates
        self._gaps = _Store(max_bytes)  # stretches: only the same page again; kept apart so they never push slots out

    def __len__(self) -> int:
        return len(self._entries) + len(self._gaps)

    @property
    def held(self) -> int:
        return self._entries.held + self._gaps.held

    def clear(self) -> None:
        self._entries.clear()
        self._gaps.clear()

    def lookup(self, html: bytes, p: int, start_tag: bytes, charset: str | None, parent: str | None
               ) -> tuple[list[Slot], list[Problem], int] | None:
        """The slots (outer first) and problems of the slot starting at `p`, shifted to `p`, and its end."""
        entries = self._entries.get((start_tag, charset, parent))
        if entries is not None:
            for entry in entries:
                if html.startswith(entry.raw, p):
                    self.hits += 1
                    d = p - entry.origin  # 0 when the page before the slot kept its length: nothing to rebuild
                    return ([shift_slot(s, d) for s in entry.slots], [_shift_problem(x, d) for x in entry.problems],
                            p + len(entry.raw))
        self.misses += 1
        return None

    def remember(self, html: bytes, start_tag: bytes, charset: str | None, parent: str | None,
                 slots: list[Slot], problems: list[Problem]) -> None:
        """`slots[0]` parsed cleanly from `html`; `slots[1:]` are nested in it, `problems` came from those."""
        outer = slots[0]
        p = outer.start
        if outer.end - p > MAX_ENTRY_BYTES:
            return
        self._entries.put((start_tag, charset, parent), _Entry(html[p:outer.end], p, tuple(slots), tuple(problems)))

    def gap_verdict(self, html: bytes, pos: int, end: int) -> bool | None:
        """The verdict remembered for exactly the bytes `html[pos:end]`, None if not seen."""
        entries = self._gaps.get(_gap_key(html, pos, end))
        if entries is not None:
            for entry in entries:
                if html.startswith(entry.raw, pos):
                    return entry.verdict
        return None

    def remember_gap(self, html: bytes, pos: int, end: int, verdict: bool) -> None:
        if end - pos <= MAX_GAP_BYTES:
            self._gaps.put(_gap_key(html, pos, end), _GapEntry(html[pos:end], verdict))


class _Store:
    """key -> entries, bounded by the bytes the entries hold; the oldest key goes first."""

    __slots__ = ("max_bytes", "held", "_map")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self._map: dict[tuple, list[_Entry | _GapEntry]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._map.values())

    def get(self, key: tuple) -> list[_Entry | _GapEntry] | None:
        return self._map.get(key)

    def clear(self) -> None:
        self._map.clear()
        self.held = 0

    def put(self, key: tuple, entry: _Entry | _GapEntry) -> None:
        if entry.size > self.max_bytes:
            return
        entries = self._map.setdefault(key, [])
        if len(entries) >= _PER_KEY:
            self.held -= entries.pop(0).size
        entries.append(entry)
        self.held += entry.size
        while self.held > self.max_bytes and self._map:
            for gone in self._map.pop(next(iter(self._map))):
                self.held -= gone.size


def _gap_key(html: bytes, pos: int, end: int) -> tuple:
    return (b"gap", end - pos, html[pos:pos + 24], html[end - 24:end])


def shift_slot(s: Slot, d: int) -> Slot:
    """`s` with every offset moved by `d` (the same Slot when `d` is 0)."""
    if d == 0:
        return s
    lay = s.layout
    assert lay is not None
    t = lay.template
    layout = SlotLayout(
        open_end=lay.open_end + d, name_end=lay.name_end + d, content_end=lay.content_end + d,
        items=tuple((a + d, b + d) for a, b in lay.items),
        template=None if t is None else (t[0] + d, t[1] + d, t[2] + d, t[3] + d),
        variants=tuple((a + d, b + d, c + d, e + d) for a, b, c, e in lay.variants),
    )
    return Slot(name=s.name, type=s.type, start=s.start + d, end=s.end + d, items=s.items, variants=s.variants,
                limit=s.limit, max_items=s.max_items, has_template=s.has_template, parent=s.parent, layout=layout)


def _shift_problem(x: Problem, d: int) -> Problem:
    return x if d == 0 else Problem(x.reason, x.slot, x.offset + d)
