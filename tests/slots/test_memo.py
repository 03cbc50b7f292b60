"""ScanMemo: a slot's parse is reused only for the same bytes, wherever the slot sits, and the memo stays bounded.

The broad check is in test_fast_path.py (every comparison there also runs through one shared memo);
these are the cases that reuse must get right by construction.
"""

from __future__ import annotations

from slots import Decision, ScanMemo, rewrite, scan
from slots.scanner import scan_exact

HEAD = b"<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body>"
HERO = (b'<div data-slot="hero" data-slot-type="carousel">'
        b'<article data-item="a" data-tags="x">A</article><article data-item="b" data-tags="y">B</article></div>')
NESTED = (b'<section data-slot="outer" data-slot-type="variant"><p>default</p>'
          b'<div data-slot="inner" data-slot-type="carousel"><p data-item="q">Q</p><p data-item="r">R</p></div>'
          b'<div data-slot="broken" data-slot-type="nonsense"><p>x</p></div></section>')


def page(token: bytes, *slots: bytes) -> bytes:
    return HEAD + b'<form><input type="hidden" name="csrf" value="' + token + b'"></form>' + b"".join(slots) + b"</body>"


def test_a_slot_seen_before_is_reused_at_a_new_offset_and_rewrites_the_same() -> None:
    memo = ScanMemo()
    first, second = page(b"t1", HERO), page(b"a-much-longer-token", HERO)
    assert scan(first, memo=memo) == scan_exact(first)
    assert (memo.hits, memo.misses) == (0, 1)
    got = scan(second, memo=memo)
    assert (memo.hits, memo.misses) == (1, 1)
    assert got == scan_exact(second)
    (hero,) = got.slots
    assert second[hero.start:hero.end] == HERO
    decision = {"hero": Decision(slot="hero", id="d", order=("b", "a"))}
    out = rewrite(second, got, decision).body
    assert out == rewrite(second, scan_exact(second), decision).body
    assert out.index(b'data-item="b"') < out.index(b'data-item="a"')


def test_one_changed_byte_inside_the_slot_is_parsed_afresh() -> None:
    memo = ScanMemo()
    scan(page(b"t", HERO), memo=memo)
    changed = page(b"t", HERO.replace(b'data-tags="y"', b'data-tags="z"'))
    got = scan(changed, memo=memo)
    assert memo.hits == 0 and memo.misses == 2
    assert got == scan_exact(changed)
    assert got.slots[0].items[1].tags == ("z",)


def test_nested_slots_and_their_problems_come_back_with_the_outer_slot() -> None:
    memo = ScanMemo()
    scan(page(b"1", NESTED), memo=memo)
    again = page(b"22", NESTED)
    got = scan(again, memo=memo)
    assert memo.hits == 1
    assert got == scan_exact(again)
    assert [s.name for s in got.slots] == ["outer", "inner"]
    assert [p.slot for p in got.problems] == ["broken"]
    assert got.problems[0].offset == again.index(b'<div data-slot="broken"')


def test_two_copies_of_a_remembered_slot_are_still_duplicates() -> None:
    memo = ScanMemo()
    scan(page(b"1", HERO), memo=memo)
    twice = page(b"1", HERO, b"<p>between</p>", HERO)
    got = scan(twice, memo=memo)
    assert memo.hits == 2
    assert got == scan_exact(twice)
    assert got.slots == () and [p.reason for p in got.problems] == ["duplicate slot name: every copy left as is"] * 2


def test_a_slot_in_a_new_context_is_judged_by_that_context_not_the_memo() -> None:
    memo = ScanMemo()
    scan(page(b"1", HERO), memo=memo)
    for wrap in (b"<template>%s</template>", b"<svg>%s</svg>", b"<!-- %s -->", b"<textarea>%s</textarea>"):
        html = page(b"1", wrap % HERO)
        assert scan(html, memo=memo) == scan_exact(html)
        assert scan(html, memo=memo).slots == ()


def test_charset_is_part_of_the_key() -> None:
    memo = ScanMemo()
    latin = HERO.replace(b'data-tags="x"', b'data-tags="caf\xe9"')
    html = page(b"1", latin)
    a = scan(html, charset="windows-1252", memo=memo)
    b = scan(html, charset="utf-8", memo=memo)
    assert a.slots[0].items[0].tags == ("caf\u00e9",)
    assert b == scan_exact(html, charset="utf-8") and b.slots[0].items[0].tags != ("caf\u00e9",)


def test_the_memo_stays_within_its_byte_budget() -> None:
    memo = ScanMemo(max_bytes=20_000)
    for k in range(200):
        slot = HERO.replace(b'data-item="a"', b'data-item="a%d"' % k)
        html = page(b"1", slot)
        assert scan(html, memo=memo) == scan_exact(html)
        assert memo.held <= 20_000
    assert 0 < len(memo) < 200
    memo.clear()
    assert len(memo) == 0 and memo.held == 0


def test_a_remembered_stretch_verdict_is_only_used_for_the_same_bytes() -> None:
    """Between slots the walk checks whether a quoted value holds '>' (then tags do not end at their first '>').

    Two stretches of the same length, the same first and last bytes, differing only there: the verdict of
    the first must not be applied to the second, or the slot whose own tag holds the quoted '>' is lost.
    """
    memo = ScanMemo()
    filler = b"<p>filler</p>" * 300  # long enough for the stretch verdict to be remembered
    long_value = b"x" * 60
    calm = page(b"1", filler + b'<div title="a<b' + long_value + b'" data-slot="s" data-slot-type="carousel">'
                b'<p data-item="a">A</p><p data-item="b">B</p></div>')
    sharp = calm.replace(b'title="a<b', b'title="a>b')
    assert len(calm) == len(sharp)
    for html in (calm, sharp, calm, sharp):
        got = scan(html, memo=memo)
        assert got == scan_exact(html)
        assert [s.name for s in got.slots] == ["s"]
