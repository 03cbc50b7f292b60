"""Literal HTML in, exact bytes out, for each slot type."""

from __future__ import annotations

import slots
from slots import Decision, Item, rewrite, scan

TAG = b'<script src="/_tailor/t.js" defer></script>'


def run(html: bytes, **decisions: Decision) -> slots.Rewritten:
    page = scan(html, charset="utf-8")
    return rewrite(html, page, {k.replace("_", "-"): v for k, v in decisions.items()}, charset="utf-8")


def test_exported_names() -> None:
    assert sorted(slots.__all__) == sorted(
        ["SLOT_TYPES", "Decision", "Item", "Problem", "Rewritten", "ScanMemo", "ScannedPage", "Slot", "SlotType", "rescan",
         "rewrite", "scan"])
    for name in slots.__all__:
        assert getattr(slots, name) is not None
    assert slots.scan.__module__ == "slots.scanner" and slots.rewrite.__module__ == "slots.rewriter"


CAROUSEL = (b'<body><div data-slot="home-hero" data-slot-type="carousel">\n'
            b'  <article data-item="tent-2p" data-tags="camping,outdoor" data-title="Tent &amp; pegs">T</article>\n'
            b'  <article data-item="rain-jacket" data-tags="hiking,outdoor,sale">R</article>\n'
            b'  <article data-item="stove">S</article>\n'
            b'</div></body>')


def test_carousel_scan_reads_items() -> None:
    page = scan(CAROUSEL)
    (slot,) = page.slots
    assert slot.name == "home-hero" and slot.type == "carousel"
    assert [i.id for i in slot.items] == ["tent-2p", "rain-jacket", "stove"]
    assert slot.items[0].tags == ("camping", "outdoor") and slot.items[0].title == "Tent & pegs"
    assert CAROUSEL[slot.start:slot.end].startswith(b"<div") and CAROUSEL[slot.start:slot.end].endswith(b"</div>")


def test_carousel_reorders_and_drops_keeping_item_bytes() -> None:
    out = run(CAROUSEL, home_hero=Decision(slot="home-hero", id="d-1", order=("stove", "ghost", "tent-2p")))
    assert out.applied == ("home-hero",)
    assert out.body == (
        b'<body><div data-tailor-decision="d-1" data-slot="home-hero" data-slot-type="carousel">\n'
        b'  <article data-item="stove">S</article>\n'
        b'  <article data-item="tent-2p" data-tags="camping,outdoor" data-title="Tent &amp; pegs">T</article>\n'
        b'</div></body>')


def test_carousel_without_order_only_marks_the_slot() -> None:
    out = run(CAROUSEL, home_hero=Decision(slot="home-hero", id="ctl", reason="holdout"))
    assert out.body == CAROUSEL.replace(b"<div ", b'<div data-tailor-decision="ctl" ', 1)


def test_order_naming_nothing_is_a_problem() -> None:
    out = run(CAROUSEL, home_hero=Decision(slot="home-hero", id="d", order=("nope",)))
    assert out.body == CAROUSEL and out.applied == ()
    assert [p.slot for p in out.problems] == ["home-hero"]


def test_slot_max_caps_items() -> None:
    html = CAROUSEL.replace(b'data-slot-type="carousel"', b'data-slot-type="carousel" data-slot-max="1"')
    out = run(html, home_hero=Decision(slot="home-hero", id="d", order=("stove", "tent-2p")))
    assert out.body.count(b"<article") == 1 and b'data-item="stove"' in out.body


def test_search_with_optional_end_tags() -> None:
    html = b'<ol data-slot="search-results" data-slot-type="search">\n<li data-item="a">A\n<li data-item="b">B\n</ol>'
    page = scan(html)
    assert [i.id for i in page.slots[0].items] == ["a", "b"]
    out = run(html, search_results=Decision(slot="search-results", id="s", order=("b", "a")))
    assert out.body == (b'<ol data-tailor-decision="s" data-slot="search-results" data-slot-type="search">\n'
                        b'<li data-item="b">B\n<li data-item="a">A\n</ol>')


def test_items_inside_a_wrapper() -> None:
    html = (b'<div data-slot="c" data-slot-type="carousel"><button>prev</button><ul class="track">'
            b'<li data-item="a">A</li> <li data-item="b">B</li></ul><button>next</button></div>')
    out = run(html, c=Decision(slot="c", id="x", order=("b", "a")))
    assert out.body == (b'<div data-tailor-decision="x" data-slot="c" data-slot-type="carousel"><button>prev</button>'
                        b'<ul class="track"><li data-item="b">B</li> <li data-item="a">A</li></ul>'
                        b'<button>next</button></div>')


RECS = (b'<section data-slot="home-recs" data-slot-type="recommendations" data-limit="2">\n'
        b'  <template data-item-template><a href="{url}"><img src="{image}" alt="{title}">{title} {price}</a></template>\n'
        b'  <a data-item="bestseller-1" href="/b1">Best</a>\n'
        b'</section>')


def test_recommendations_fill_through_template() -> None:
    fill = (Item(id="p1", title="Tent", url="/p/1", image="/i/1.jpg", price="$99"),
            Item(id="p2", title="Mug", url="https://shop.example/p/2", image="/i/2.jpg", price="$5"),
            Item(id="p3", title="over the limit"))
    out = run(RECS, home_recs=Decision(slot="home-recs", id="r", fill=fill))
    assert out.body == (
        b'<section data-tailor-decision="r" data-slot="home-recs" data-slot-type="recommendations" data-limit="2">\n'
        b'  <template data-item-template><a href="{url}"><img src="{image}" alt="{title}">{title} {price}</a></template>\n'
        b'  <a href="/p/1"><img src="/i/1.jpg" alt="Tent">Tent $99</a>'
        b'<a href="https://shop.example/p/2"><img src="/i/2.jpg" alt="Mug">Mug $5</a>\n'
        b'</section>')
    fallback = scan(RECS).slots[0]
    assert fallback.has_template and fallback.limit == 2 and [i.id for i in fallback.items] == ["bestseller-1"]


def test_recommendations_with_the_template_between_fallback_items() -> None:
    """The template is kept, in front of the filled items; what stood between the fallback items (without the
    template) goes between the filled ones."""
    html = (b'<ol data-slot="r" data-slot-type="recommendations"> <li data-item="f1">F1</li>\n'
            b'<template data-item-template><li>{title}</li></template>\n<li data-item="f2">F2</li> </ol>')
    out = run(html, r=Decision(slot="r", id="d", fill=(Item(id="x", title="X"), Item(id="y", title="Y"), Item(id="z", title="Z"))))
    assert out.body == (b'<ol data-tailor-decision="d" data-slot="r" data-slot-type="recommendations"> '
                        b'<template data-item-template><li>{title}</li></template><li>X</li>\n\n<li>Y</li>\n\n<li>Z</li> </ol>')


def test_recommendations_extra_fields_and_unknown_placeholders() -> None:
    html = (b'<div data-slot="r" data-slot-type="recommendations"><template data-item-template>'
            b'<p style="a{b}">{title} {why} {nope}</p></template></div>')
    out = run(html, r=Decision(slot="r", id="x", fill=(Item(id="a", title="A"),), fields={"why": "because"}))
    assert out.body == (b'<div data-tailor-decision="x" data-slot="r" data-slot-type="recommendations"><template '
                        b'data-item-template><p style="a{b}">{title} {why} {nope}</p></template>'
                        b'<p style="a{b}">A because {nope}</p></div>')


def test_recommendations_without_template_keep_fallback() -> None:
    html = b'<div data-slot="r" data-slot-type="recommendations"><a data-item="x">X</a></div>'
    out = run(html, r=Decision(slot="r", id="x", fill=(Item(id="a"),)))
    assert out.body == html and out.applied == () and out.problems


VARIANT = (b'<div data-slot="promo" data-slot-type="variant">\n'
           b'  <p>Free shipping over $50</p>\n'
           b'  <template data-variant="urgent"><p>Only 3 left, order today</p></template>\n'
           b'  <template data-variant="calm"><p>Take your time</p></template>\n'
           b'</div>')


def test_variant_sends_only_the_chosen_content() -> None:
    assert scan(VARIANT).slots[0].variants == ("urgent", "calm")
    out = run(VARIANT, promo=Decision(slot="promo", id="v", variant="urgent"))
    assert out.body == b'<div data-tailor-decision="v" data-slot="promo" data-slot-type="variant">\n  <p>Only 3 left, order today</p>\n</div>'


def test_variant_none_keeps_default_and_unknown_variant_is_a_problem() -> None:
    out = run(VARIANT, promo=Decision(slot="promo", id="v"))
    assert out.body == VARIANT.replace(b"<div ", b'<div data-tailor-decision="v" ', 1)
    out = run(VARIANT, promo=Decision(slot="promo", id="v", variant="loud"))
    assert out.body == VARIANT and out.applied == () and "loud" in out.problems[0].reason


def test_debug_marks_reason_escaped() -> None:
    page = scan(VARIANT)
    out = rewrite(VARIANT, page, {"promo": Decision(slot="promo", id='a"b', reason="<rule> & 'x'")}, debug=True)
    assert out.body.startswith(b'<div data-tailor-decision="a&quot;b" data-slot-decision="&lt;rule&gt; &amp; &#39;x&#39;" '
                               b'data-slot="promo"')


def test_decision_for_missing_slot_is_a_problem() -> None:
    out = run(VARIANT, other=Decision(slot="other", id="x"))
    assert out.body == VARIANT and out.problems[0].slot == "other"


def test_page_item() -> None:
    html = (b'<main data-page-item data-item="tent-2p" data-tags="camping, outdoor" data-title="Tent &quot;2P&quot;" '
            b'data-price="&euro;99" data-category="tents" data-url="/p/tent" data-image="/i.jpg"></main>')
    item = scan(html).page_item
    assert item == Item(id="tent-2p", tags=("camping", "outdoor"), title='Tent "2P"', url="/p/tent", image="/i.jpg",
                        price="\u20ac99", category="tents")
    assert scan(b'<div data-page-item="sku-9">').page_item == Item(id="sku-9")


def test_nested_slot_rewritten_when_outer_is_not() -> None:
    inner = b'<div data-slot="in" data-slot-type="carousel"><i data-item="a">a</i><i data-item="b">b</i></div>'
    html = b'<div data-slot="out" data-slot-type="variant">' + inner + b'<template data-variant="v">V</template></div>'
    page = scan(html)
    assert [(s.name, s.parent) for s in page.slots] == [("out", None), ("in", "out")]
    out = rewrite(html, page, {"in": Decision(slot="in", id="i", order=("b", "a"))})
    assert out.body == html.replace(b'<i data-item="a">a</i><i data-item="b">b</i>',
                                    b'<i data-item="b">b</i><i data-item="a">a</i>').replace(
        b'<div data-slot="in"', b'<div data-tailor-decision="i" data-slot="in"')
    both = rewrite(html, page, {"in": Decision(slot="in", id="i", order=("b",)), "out": Decision(slot="out", id="o", variant="v")})
    assert both.body == b'<div data-tailor-decision="o" data-slot="out" data-slot-type="variant">V</div>'
    assert both.applied == ("out",) and both.problems[0].slot == "in"


def test_rewrite_refuses_other_bytes() -> None:
    page = scan(CAROUSEL)
    other = CAROUSEL + b" "
    out = rewrite(other, page, {"home-hero": Decision(slot="home-hero", id="d", order=("stove",))}, tag=TAG)
    assert out.body == other and out.applied == () and not out.tag_inserted


def test_decisions_for_slots_not_on_the_page_are_reported_first_in_their_order() -> None:
    """A decision naming no slot of the page is reported (before what the slots report, in the decisions'
    order) and the others still apply."""
    html = CAROUSEL.replace(b"</body>", b'<div data-slot="v" data-slot-type="variant"><p>a</p></div></body>')
    page = scan(html, charset="utf-8")
    out = rewrite(html, page, {
        "ghost-1": Decision(slot="ghost-1", id="g1", order=("x",)),
        "home-hero": Decision(slot="home-hero", id="d1", order=("stove", "tent-2p")),
        "v": Decision(slot="v", id="d2", variant="missing"),
        "ghost-2": Decision(slot="ghost-2", id="g2", variant="y"),
    }, charset="utf-8")
    assert out.applied == ("home-hero",)
    assert [(p.slot, p.reason.split(":")[0]) for p in out.problems] == [
        ("ghost-1", "decision for a slot that is not on the page"), ("ghost-2", "decision for a slot that is not on the page"),
        ("v", "decision names variant 'missing' that the slot does not have")]
    assert out.body.index(b'data-item="stove"') < out.body.index(b'data-item="tent-2p"')
    everything = rewrite(html, page, {"home-hero": Decision(slot="home-hero", id="d1", order=("stove",))}, charset="utf-8")
    assert everything.problems == () and everything.applied == ("home-hero",)


def test_items_joined_between_the_gaps_as_respliced_joins_them() -> None:
    """Reordered or filled items stand where the page's items stood: the k-th gap between the k-th and
    (k+1)-th shown, the last gap for any further one, nothing when there was one item."""
    from slots.rewriter import _between_items, _respliced

    html = b"<ul>\n <li>a</li>\n <li>b</li>,<li>c</li></ul>"
    starts = [html.index(b"<li>a"), html.index(b"<li>b"), html.index(b"<li>c")]
    spans = tuple((a, html.index(b"</li>", a) + 5) for a in starts)
    for n_spans in (1, 2, 3):
        sp = spans[:n_spans]
        gaps = [html[sp[i][1]:sp[i + 1][0]] for i in range(len(sp) - 1)]
        for pieces in ([], [b"X"], [b"X", b"Y"], [b"X", b"Y", b"Z", b"W", b"V"]):
            assert _between_items(html, b"L", sp, pieces, b"T") == _respliced(b"L", gaps, pieces, b"T"), (n_spans, pieces)
    assert _between_items(html, b"", spans, [b"1", b"2", b"3", b"4"], b"") == b"1\n 2,3,4"
