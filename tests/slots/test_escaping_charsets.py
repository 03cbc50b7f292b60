"""Inserted text is escaped and right in any ASCII-compatible charset; other encodings pass through."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slots import Decision, Item, rewrite, scan
from slots.escape import safe_url

TAG = b'<script src="/_tailor/t.js" defer></script>'
TEMPLATE_SLOT = (b'<div data-slot="r" data-slot-type="recommendations"><template data-item-template>'
                 b'<a href="{url}" title="{title}"><img src={image}>{title}</a></template></div>')


def fill(html: bytes, item: Item, charset: str | None) -> bytes:
    page = scan(html, charset=charset)
    out = rewrite(html, page, {"r": Decision(slot="r", id="x", fill=(item,))}, charset=charset)
    assert out.applied == ("r",), out.problems
    return out.body[out.body.index(b"</template>") + len(b"</template>"):out.body.rindex(b"</div>")]


def test_script_breakout_and_quotes_are_escaped() -> None:
    got = fill(TEMPLATE_SLOT, Item(id="a", title='</script><script>alert("x")</script>\'', url="/p?a=1&b=2",
                                   image="/i.png onerror=alert(1)"), "utf-8")
    assert got == (b'<a href="/p?a=1&amp;b=2" title="&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;">'
                   b'<img src=/i.png&#32;onerror&#61;alert(1)>'
                   b'&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;</a>')


@pytest.mark.parametrize("url", ["javascript:alert(1)", " JaVa\tscript:alert(1)", "data:text/html,x", "vbscript:x",
                                 "\x01javascript:x", "\\\\evil"])
def test_unsafe_urls_become_hash(url: str) -> None:
    assert safe_url(url) == "#"
    got = fill(TEMPLATE_SLOT, Item(id="a", title="t", url=url, image=url), "utf-8")
    assert got == b'<a href="#" title="t"><img src=#>t</a>'


@pytest.mark.parametrize("url", ["https://x.example/a", "http://x", "/rel", "rel/x", "//cdn.example/i.png", "?q=1", "#top"])
def test_safe_urls_kept(url: str) -> None:
    assert safe_url(url) == url


def test_non_ascii_and_line_separator() -> None:
    item = Item(id="a", title="Caf\u00e9 \u2028 \u65e5", url="/caf\u00e9")
    assert fill(TEMPLATE_SLOT, item, "utf-8") == (
        '<a href="/caf\u00e9" title="Caf\u00e9 &#8232; \u65e5"><img src=>Caf\u00e9 &#8232; \u65e5</a>'.encode())
    assert fill(TEMPLATE_SLOT, item, None) == (
        b'<a href="/caf&#233;" title="Caf&#233; &#8232; &#26085;"><img src=>Caf&#233; &#8232; &#26085;</a>')


def test_windows_1252_page_untouched_bytes_and_ncrs() -> None:
    head = '<html><head><meta charset="windows-1252"><title>Caf\u00e9 \u20ac</title></head><body>'.encode("cp1252")
    slot = ('<div data-slot="r" data-slot-type="recommendations"><template data-item-template><b>{title}</b>'
            '</template><i data-item="x" data-title="Cr\u00e8me">\u00c9t\u00e9</i></div>').encode("cp1252")
    html = head + slot + "<p>\u00fc\u00df</p></body></html>".encode("cp1252")
    page = scan(html)
    assert page.charset == "windows-1252" and page.slots[0].items[0].title == "Cr\u00e8me"
    out = rewrite(html, page, {"r": Decision(slot="r", id="\u00e9", fill=(Item(id="n", title="Na\u00efve \u2603"),))}, tag=TAG)
    assert out.body == (head.replace(b"</head>", TAG + b"</head>")
                        + b'<div data-tailor-decision="&#233;" data-slot="r" data-slot-type="recommendations">'
                          b'<template data-item-template><b>{title}</b></template><b>Na&#239;ve &#9731;</b></div>'
                        + "<p>\u00fc\u00df</p></body></html>".encode("cp1252"))


def test_shift_jis_page() -> None:
    # \u8868 encodes as 0x95 0x5C in Shift_JIS: a trailing byte that is ASCII '\\'.
    text = "\u8868\u793a\u30c6\u30b9\u30c8"
    html = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"></head><body>"
            f"<ul data-slot=\"c\" data-slot-type=\"carousel\"><li data-item=\"a\" data-title=\"{text}\">{text}</li>"
            f"<li data-item=\"b\">{text}B</li></ul><p>{text}</p>").encode("shift_jis")
    page = scan(html)
    assert page.charset == "shift_jis" and page.slots[0].items[0].title == text
    out = rewrite(html, page, {"c": Decision(slot="c", id="\u65e5", order=("b", "a"))}, tag=TAG)
    expected = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">"
                "<script src=\"/_tailor/t.js\" defer></script></head><body>"
                f"<ul data-tailor-decision=\"&#26085;\" data-slot=\"c\" data-slot-type=\"carousel\"><li data-item=\"b\">{text}B</li>"
                f"<li data-item=\"a\" data-title=\"{text}\">{text}</li></ul><p>{text}</p>").encode("shift_jis")
    assert out.body == expected


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_pass_through(encoding: str) -> None:
    html = ('<html><head></head><body><div data-slot="c" data-slot-type="carousel"><p data-item="a">a</p></div>'
            '</body></html>').encode(encoding)
    for charset in (None, encoding):
        page = scan(html, charset=charset)
        assert page.slots == () and page.tag_offset is None and page.problems
        out = rewrite(html, page, {"c": Decision(slot="c", id="x", order=("a",))}, tag=TAG)
        assert out.body == html and not out.tag_inserted and out.applied == ()


@pytest.mark.parametrize("declared", ["iso-2022-jp", "utf-16", "UTF-7", "x-no-such-charset", "cp037"])
def test_unsafe_declared_charsets_pass_through(declared: str) -> None:
    html = b'<html><head></head><body><div data-slot="c" data-slot-type="carousel"><p data-item="a">a</p></div>'
    for page in (scan(html, charset=declared), scan(b'<meta charset="' + declared.encode() + b'">' + html)):
        assert page.slots == () and page.tag_offset is None and declared.lower() in page.problems[0].reason.lower()


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x2030), max_size=20), st.booleans(), st.booleans())
def test_escape_equals_translating_every_value(s: str, utf8: bool, strong: bool) -> None:
    """escape() skips translate() when nothing needs replacing: the bytes must be what translate() gives."""
    from slots import escape as esc

    table = esc._STRONG if strong else esc._TEXT
    assert esc.escape(s, utf8, strong) == esc.encode(s.translate(table), utf8)


def test_remembered_item_renderings_equal_fresh_ones_and_follow_every_argument() -> None:
    from slots.escape import item_fields, render, render_item

    template = b'<a href="{url}" title="{title}">{title} {price} {note}</a>'
    item = Item(id="x", title='A "quoted" <b>', url="javascript:alert(1)", price="9 \u20ac")
    for utf8 in (True, False):
        for extra in (None, {"note": "</script>"}, {"note": "calm"}):
            fresh = render(template, item_fields(item, extra), utf8)
            assert render_item(template, item, extra, utf8) == fresh
            assert render_item(template, item, extra, utf8) == fresh  # the remembered copy
    assert b"calm" in render_item(template, item, {"note": "calm"}, True)
    assert b"&lt;/script&gt;" in render_item(template, item, {"note": "</script>"}, True)
    assert b"&#8364;" in render_item(template, item, None, False) and "\u20ac".encode() in render_item(template, item, None, True)
    assert render_item(template, msgspec_replace(item, title="other"), None, True) != render_item(template, item, None, True)
    unhashable = Item(id="y", tags=["a", "b"], title="T")  # type: ignore[arg-type]
    assert render_item(b"{title} {tags}", unhashable, None, True) == b"T a,b"


def msgspec_replace(item: Item, **changes: str) -> Item:
    import msgspec

    return msgspec.structs.replace(item, **changes)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.text(max_size=12).map(lambda s: "/" + s),
                 st.text(alphabet=st.sampled_from(list("/\\:aJ \t\n\x00\x1f\x7f#?%.h") + ["\u00e9"]), max_size=12)))
def test_safe_url_fast_path_agrees_with_the_general_rule(url: str) -> None:
    from slots import escape as esc

    assert esc.safe_url(url) == esc._safe_url_general(url) if url else esc.safe_url(url) == ""


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["url", "title", "image", "price", "note"]),
                       st.lists(st.sampled_from(list("a<>&\"' /:\u00e9\u2028=`\x00") + ["javascript:", "/p/1"]),
                                max_size=6).map("".join)),
       st.booleans())
def test_render_equals_escaping_each_placeholder(fields: dict[str, str], utf8: bool) -> None:
    """render() inlines escape() for text and quoted values: the same bytes as escape() per placeholder."""
    from slots import escape as esc

    template = b'<a href="{url}" data-x={title}><img src={image} alt="{title}">{title} {price} {note}</a>'
    chunks, holes = esc.plan(template)
    expected = [chunks[0]]
    for (name, ctx), chunk in zip(holes, chunks[1:]):
        value = fields.get(name)
        if value is None:
            expected.append(b"{" + name.encode() + b"}")
        elif ctx in (esc.URL, esc.QUOTED_URL):
            expected.append(esc.escape(esc.safe_url(value), utf8, strong=ctx == esc.URL))
        else:
            expected.append(esc.escape(value, utf8, strong=ctx == esc.TAG))
        expected.append(chunk)
    assert esc.render(template, fields, utf8) == b"".join(expected)


TEMPLATES = [b'<a href="{url}"><img src="{image}" alt="{title}">{title} {price}</a>',
             b"<li>{id} 100% {category} {tags} {note}</li>", b"<p title='{title}'>\xff\xfe {title} %s %%</p>",
             b'<a href={url}>{title}</a>', b"<b>{unknown}</b>", b"{title}", b"<i>\xe9 {price}</i>"]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(TEMPLATES),
       st.fixed_dictionaries({k: st.one_of(st.none(), st.lists(st.sampled_from(
           list("a <>&\"'/:%s\u00e9\u2028\x00\t") + ["javascript:x", "/p/1", "\udc80", "\ud83d", "%%", "{title}"]),
           max_size=5).map("".join)) for k in ("title", "url", "image", "price", "category")}),
       st.lists(st.sampled_from(["a", "b c", "", "\u00e9"]), max_size=3),
       st.one_of(st.none(), st.fixed_dictionaries({"note": st.sampled_from(["calm", "<b>", "%s", "\udcff"])})),
       st.booleans())
def test_item_renderings_equal_the_general_render(template: bytes, fields: dict, tags: list[str], extra: dict | None,
                                                  utf8: bool) -> None:
    """The one-format rendering of an item (UTF-8 pages) gives the bytes render() gives: '%' and invalid bytes
    in the template, values to escape, surrogates, unknown placeholders and strong contexts included."""
    from slots import escape as esc

    item = Item(id="x1", tags=tuple(tags), **fields)
    esc._render_item_cached.cache_clear()
    assert esc.render_item(template, item, extra, utf8) == esc.render(template, esc.item_fields(item, extra), utf8)
