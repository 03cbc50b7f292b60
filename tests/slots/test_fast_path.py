"""scan()'s fast path (hops between openers after the head) equals scan_exact() (tokenizes every tag).

scan_exact is the reference: the same scanner with the fast path off. Both must agree on
every field of the ScannedPage, for the whole html5lib corpus with slots spliced in at
several places, and for random documents built from the constructs that fool shortcuts
(quoted values holding '>' or '<', comments, raw text, template, select, bogus comments).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from slots.memo import ScanMemo
from slots.scanner import scan, scan_exact

# shared/ sits beside the repository (CI clones main next to it); /work/shared on developer machines.
CORPUS = next(
    (c for c in (Path(__file__).resolve().parents[3] / "shared" / "corpus" / "html5lib", Path("/work/shared/corpus/html5lib")) if c.is_dir()),
    Path(__file__).resolve().parents[3] / "shared" / "corpus" / "html5lib",
)
if not CORPUS.is_dir():
    CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "html5lib"
FILES = sorted(CORPUS.glob("*.html"))
HEAD = b"<!doctype html><html><head><title>t</title></head><body>"
SLOT = b'<div data-slot="t%d" data-slot-type="carousel"><p data-item="a">A</p><p data-item="b">B</p></div>'


# One memo for the whole module: a slot parsed in one document is reused in every later document holding
# the same bytes, at other offsets and after other markup, so every comparison also checks reuse.
MEMO = ScanMemo(max_bytes=512 * 1024)
PAD = b"<i>pad</i>"


def _same(html: bytes) -> None:
    exact = scan_exact(html)
    assert scan(html) == exact, html[:300]
    assert scan(html, memo=MEMO) == exact, html[:300]
    assert scan(html, memo=MEMO) == exact, html[:300]  # now from the memo where it parsed cleanly
    if html.startswith(HEAD):  # the same slots, moved
        moved = HEAD + PAD + html[len(HEAD):]
        assert scan(moved, memo=MEMO) == scan_exact(moved), moved[:300]


def test_fast_path_is_taken() -> None:
    """A page after its head with slots far apart: the fast path runs and finds every slot."""
    body = b"".join(b'<div class="c" title="a &lt; b"><a href="/p?x=1&y=2">x</a></div>' for _ in range(200))
    html = HEAD + body + SLOT % 0 + body + b"<!-- <div data-slot=z> -->" + SLOT % 1 + b"</body>"
    page = scan(html)
    assert [s.name for s in page.slots] == ["t0", "t1"]
    assert page == scan_exact(html)


@pytest.mark.parametrize("chunk", range(4))
def test_corpus_fast_equals_exact(chunk: int) -> None:
    assert len(FILES) > 1000, f"html5lib corpus missing at {CORPUS}"
    for path in FILES[chunk::4]:
        html = path.read_bytes()
        _same(html)
        for k, where in enumerate((0, len(html) // 3, len(html) // 2, len(html))):
            _same(HEAD + html[:where] + SLOT % k + html[where:] + SLOT % 9)


PIECES = [b"text ", b"a < b > c", b"<p>", b"</p>", b"<div class='a>b'>", b'<div title="x>y">', b"<a title='<!--'>",
          b'<a b="<script>">', b"</div>", b"<br/>", b"<!-- c -->", b"<!-->", b"<!--", b"-->", b"<?x>", b"</ x>", b"</>",
          b"<script>if(a<b)x('</div>')</script>", b"<script>", b"</script>", b"<style>p{}</style>", b"<template>",
          b"</template>", b"<textarea>", b"</textarea>", b"<svg>", b"</svg>", b"<svg/>", b"<select>", b"</select>",
          b'<a href="', b"<a b'c d='e>", b"<a x=y\"z w=\"v>\">", b"<a =\"q>\">", b"<SCRIPT>", b"</SCRIPT>", b"<Title>",
          b"<body>", b"</head>", b"<![CDATA[x]]>", b"<plaintext>", b"data-slot=", b' data-slot="q" ', b"=\"", b">", b"'",
          b"</<!-- x -->", b"<Svg>", b"</SVG>", b"<TEMPLATE>", b"<sTyle>p{}</stYle>", b"<!DOCTYPE x>", b"</\x00",
          b"</<script>", b"</<svg>", b"</-slot=x>", b"<!data-slot=x>", b"</<!--"]


@st.composite
def document(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(PIECES), max_size=14))
    for k in range(draw(st.integers(0, 3))):
        parts.insert(draw(st.integers(0, len(parts))), SLOT % k)
    return HEAD + b"".join(parts)


@settings(max_examples=600, deadline=None)
@given(document())
def test_random_documents_fast_equals_exact(html: bytes) -> None:
    _same(html)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_after_head_fast_equals_exact(noise: bytes) -> None:
    _same(HEAD + noise + SLOT % 0 + noise)


# Slot contents: what parse_fast() skips (text-only and void elements without data- attributes) next to
# what it must not skip (implied ends, upper case, data- attributes, quoted '>', templates, nested slots).
FRAG_PIECES = [b"text ", b"<p>", b"</p>", b"<p>t</p>", b"<P>t</P>", b"<h2>t</h2>", b"<h2>t</H2>", b"<li>", b"</li>",
               b"<ul>", b"</ul>", b"<img src=x>", b"<IMG src=x>", b"<hr>", b"<br>", b"</br>", b"<br/>",
               b'<div data-item="a">', b'<div data-item="b">', b"</div>", b"<div>", b'<p data-item="c">c</p>',
               b'<article data-item="d"><img alt="x>y"><h2>d</h2></article>', b'<li data-item="e">e</li>',
               b"<template data-item-template><a>{title}</a></template>", b'<template data-variant="v1"><p>v</p></template>',
               b"<template>", b"</template>", b"<!-- c -->", b"<!-- <p> -->", b"<script>x('</p>')</script>", b"<span>",
               b"</span>", b"<b>t</b>", b'<b data-x="1">t</b>', b'<b DATA-ITEM="f">t</b>', b'<i title="a>b">t</i>',
               b'<i title="a>b">t</I>', b"<em x='<p>'>t</em>", b"<a =\"q>\">t</a>", b"<svg/>", b"<svg><p>t</p></svg>",
               b"<table>", b"</table>", b"<button>", b"</button>", b"<dl><dt>a<dd>b</dl>", b"<option>", b"<select>",
               b'<div data-slot="inner" data-slot-type="carousel"><p data-item="q">Q</p></div>', b"<x-card>t</x-card>",
               b"<h2>a < b</h2>", b"<h2>a</h2 >", b"<h2>a</h2x>", b"<textarea>t</textarea>", b"<p/>", b"<b>",
               b'<template data-item-template><a href="{url}"><img src="{image}">{title}</a></template>',
               b'<template data-variant="v2"><li>x<p>y<!-- </template> --></TEMPLATE >', b"<template><script>x('</template>')</script>",
               b"<template><title></template></title></template>",
               b'<template data-variant="v3"><a title="</template" x=y>t</a></template>', b"<template><template>",
               b"<template></1></template>", b"<template><svg><p>s</svg></template>", b"<template>a < b</template/>",
               b"<template data-item-template><div data-item='t'><p data-slot='z'>q</div></template>", b"<template><!x>"]
ROOTS = [b'<div data-slot="s" data-slot-type="carousel">', b'<p data-slot="s" data-slot-type="carousel">',
         b'<ul data-slot="s" data-slot-type="search">', b'<section data-slot="s" data-slot-type="variant">',
         b'<div data-slot="s" data-slot-type="recommendations">']


@st.composite
def slot_document(draw: st.DrawFn) -> bytes:
    root = draw(st.sampled_from(ROOTS))
    inner = b"".join(draw(st.lists(st.sampled_from(FRAG_PIECES), max_size=12)))
    close = b"</" + root[1:root.index(b" ")] + b">"
    return HEAD + root + inner + close + draw(st.sampled_from([b"", b"</div>", b"<p>after</p>"])) + SLOT % 1


@settings(max_examples=1500, deadline=None)
@given(slot_document())
def test_random_slot_contents_fast_equals_exact(html: bytes) -> None:
    _same(html)


def test_slot_content_units_are_skipped_and_still_read_right() -> None:
    """Items separated by skippable units, with a <p> left open (so p-closers must not be skipped) in one slot."""
    items = b"".join(b'<li data-item="i%d"><img src="/i/%d.png" alt=""><h3>Item %d</h3><br></li>' % (k, k, k)
                     for k in range(5))
    html = (HEAD + b'<ul data-slot="a" data-slot-type="carousel">' + items + b"</ul>"
            + b'<div data-slot="b" data-slot-type="carousel"><p>open<div data-item="x">x</div><div data-item="y">y</div></div>')
    page = scan(html)
    assert page == scan_exact(html)
    (a,) = [s for s in page.slots if s.name == "a"]
    assert [i.id for i in a.items] == [f"i{k}" for k in range(5)]
    assert len(page.slots) == 2


def test_tag_cut_by_the_slot_cap() -> None:
    """A tag that straddles the slot size cap is read whole, as the exact parse reads it."""
    from slots.scanner import MAX_SLOT_BYTES

    for shift in range(-3, 4):
        filler = b"x" * (MAX_SLOT_BYTES - 60 + shift)
        html = HEAD + b'<div data-slot="s" data-slot-type="carousel">' + filler + b'<b title="long value">t</b></div>'
        _same(html)


def _attributes_reference(raw: bytes) -> dict[bytes, bytes]:
    """The plain loop tokenizer.attributes() must equal: first wins, lower-case names, raw values."""
    from slots.tokenizer import ATTR

    out: dict[bytes, bytes] = {}
    for m in ATTR.finditer(raw):
        name = m.group(1).lower()
        if name not in out:
            out[name] = next((v for v in m.group(2, 3, 4) if v is not None), b"")
    return out


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from([b" ", b"\t", b"/", b"a", b"A", b"data-item", b"DATA-Item", b"=", b"\"", b"'", b"x y",
                                  b'"v"', b"'w'", b'""', b"''", b"=\"", b"<", b"&amp;"]), max_size=12))
def test_attributes_equal_the_reference_loop(parts: list[bytes]) -> None:
    from slots.tokenizer import attributes

    raw = b"".join(parts)
    assert attributes(raw) == _attributes_reference(raw), raw


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(list("ab ,\t\u00a0\u2003\u3000\u200b\x85\u00e9") + ["&#32;", "&amp;"]), max_size=12).map("".join))
def test_item_tags_are_stripped_and_split_as_written(tags: str) -> None:
    """data-tags: split on ',', each tag stripped of whitespace (any kind), empty ones dropped."""
    import html as htmllib

    raw = tags.encode()
    page = scan(HEAD + b'<div data-slot="s" data-slot-type="carousel"><p data-item="a" data-tags="' + raw + b'">A</p></div>')
    expected = tuple(t for t in (s.strip() for s in htmllib.unescape(tags).split(",")) if t)
    assert page.slots[0].items[0].tags == expected, tags


@pytest.mark.parametrize("shift", [-40, -12, -3, 0, 2, 9, 30, 200])
def test_quoted_gt_near_the_end_of_the_checked_stretch(shift: int) -> None:
    """The first hop checks up to 4 KB past the last marker (ending on a '>'); a slot reaching past that, with
    a quoted '>' in a tag straddling that end or just after it, is still read as the exact walk reads it."""
    from slots import scanner

    filler = b"<b>t</b>" * ((scanner._CLEAN_TAIL + shift) // 8)
    tricky = b'<i title="a > <p data-item=\'z\'>">t</i>'
    for place in (0, 1, 2):
        inner = [b'<p data-item="a">A</p>', filler, b'<p data-item="b">B</p>']
        inner.insert(place + 1 if place < 2 else 3, tricky)
        html = HEAD + b'<div data-slot="s" data-slot-type="carousel">' + b"".join(inner) + b"</div><p>end</p>"
        page = scan(html)
        assert page == scan_exact(html)
        assert [i.id for i in page.slots[0].items] == ["a", "b"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from([b" ", b"\t", b"/", b"a", b"A", b"data-item", b"DATA-ITEM", b"data-Title", b"data-tags",
                                  b"data-title", b"data-url", b"data-price", b"data-slot", b"data-image", b"=", b"\"", b"'",
                                  b'"v"', b"'w'", b'""', b"=\"", b"<", b"&amp;", b"\xe9", b"\xc3\xa9", b"\xe2\x82", b"\xff",
                                  b" x ", b"a,b", b" , ", b"\xc2\xa0", b"\x00"]), max_size=14))
def test_unit_item_equals_attributes_then_item(parts: list[bytes]) -> None:
    """parse_fast() reads an item unit's attributes and Item in one step on UTF-8 pages: for a tag's
    attributes, the same Item as tokenizer.attributes() then _Scanner._item(), or None exactly when that
    finds no item (and there is no data-slot), or False (the general way)."""
    from slots import scanner, tokenizer

    raw = b"".join(parts)
    assume(re.fullmatch(tokenizer.ATTRS + rb">", raw + b">") is not None)  # a quoted value left open: no tag
    sc = scanner._Scanner(b"", "utf-8")
    sc.codec = "utf-8"
    attrs = tokenizer.attributes(raw)
    got = scanner._unit_item(raw)
    if got is not False:
        assert got == sc._item(attrs), raw
        assert got is not None or b"data-slot" not in attrs, raw


def test_unit_item_takes_the_general_way_when_it_must() -> None:
    from slots.scanner import _unit_item

    assert _unit_item(b' data-item="a" data-title="x &amp; y"') is False  # a character reference
    assert _unit_item(b' data-item="a" DATA-TITLE="b" data-title="c"') is False  # upper case: the first wins
    assert _unit_item(b' data-item="a" data-item="b"') is False  # repeated
    assert _unit_item(b' data-item="a" data-slot="s"') is False  # a nested slot
    assert _unit_item(b' data-x="a" title="data-item"') is None
    item = _unit_item(b" data-item=' a ' data-tags=\"x, y,,z\" data-title=T\xc3\xa9 data-price=\"\xff\"")
    assert item is not False and item is not None
    assert (item.id, item.tags, item.title, item.price) == ("a", ("x", "y", "z"), "T\u00e9", "\ufffd")


def _quoted_gt_by_counts(stretch: bytes) -> bool:
    """The quoted-'>' check as it stood: counts over the translated bytes, then a search there once empty
    values are dropped. Sound but blind to a value's own '=' (query strings): a bound, not the reference."""
    from slots import scanner

    seg = stretch.translate(None, scanner._NOT_QUOTING)
    if seg.count(b"=") == seg.count(b'=""'):
        return False
    if seg.count(b'="') != seg.count(b'=""') or (b"='" in seg and seg.count(b"='") != seg.count(b"=''")):
        return re.search(rb"=(?:\"[^\">]*+>|'[^'>]*+>)", seg.replace(b'=""', b"").replace(b"=''", b"")) is not None
    return False


QUOTED_PIECES = [b"=", b'"', b"'", b">", b'=""', b"=''", b"a", b" ", b"\t", b'<a href="x">', b"<b c=d>", b"<i t='u'>",
                 b'="=', b'=">', b"==", b"=>", b'<a href="/p?a=1&amp;b=2">', b"= '", b'= "']


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(QUOTED_PIECES), max_size=16))
def test_quoted_gt_is_the_byte_search_decided_fast(parts: list[bytes]) -> None:
    """_quoted_gt() decides its common case with one search per pair or triple that breaks it, in the
    translated bytes, and otherwise searches the bytes: the verdict is always that byte search's (an
    '=', blanks, a quote, its value reaching a '>'), and 'may hold' only where the old counts said so
    (it drops their false alarms, never adds a miss)."""
    from slots import scanner

    stretch = b"".join(parts)
    got = scanner._quoted_gt(stretch)
    assert got == (scanner._QUOTED_GT.search(stretch) is not None), stretch
    assert got <= _quoted_gt_by_counts(stretch), stretch


def test_quoted_gt_sees_query_strings_as_clean() -> None:
    """A value holding '=' (a query string) is not a value holding '>': such pages keep the fast path."""
    from slots import scanner

    assert not scanner._quoted_gt(b'<a href="/p?ref=home&amp;id=3">x</a><img src="/i?w=1" alt="">')
    assert _quoted_gt_by_counts(b'<a href="/p?ref=home&amp;id=3">x</a>')  # what the counts made of it
    assert scanner._quoted_gt(b'<a href="/p?a=1" title="a > b">x</a>')
    body = b"".join(b'<div class="c"><a href="/p?x=%d&amp;y=2">x</a></div>' % k for k in range(300))
    html = HEAD + body + SLOT % 0 + body + SLOT % 1 + b"</body>"
    sc = scanner._Scanner(html, None)
    page = sc.run()
    assert sc.clean_until > len(HEAD + body), "the page with query strings lost the fast path"
    assert page == scan_exact(html) and [s.name for s in page.slots] == ["t0", "t1"]


def test_head_body_meta_after_the_head_count_only_with_a_marker() -> None:
    """After the head, <head>, <body> and <meta> change nothing, so the fast path does not stop at them (nor at
    <header>): a page item or slot on them is read where its marker is written as such, by both walks."""
    body = b"<header><nav>n</nav></header>" * 50
    lower = HEAD + body + b'<meta data-page-item="p1" data-title="T">' + body + SLOT % 0
    upper = HEAD + body + b'<meta DATA-PAGE-ITEM="p2" data-title="T"><body DATA-SLOT="b" data-x>' + body + SLOT % 0
    page = scan(lower)
    assert page == scan_exact(lower) and page.page_item is not None and page.page_item.id == "p1"
    page = scan(upper)
    assert page == scan_exact(upper) and page.page_item is None and [s.name for s in page.slots] == ["t0"]
    assert page.problems == ()
