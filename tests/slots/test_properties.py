"""Property: for random documents with random slots, output minus slot regions == input minus slot regions."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from slots import Decision, Problem, rewrite, scan

TAG = b'<script src="/_tailor/t.js" defer></script>'
NOISE = [b"text ", b"a < b > c & d", b'"quoted\'', b"<p>", b"</p>", b"<div class='a>b'>", b"</div>", b"<br/>",
         b"<!-- c -->", b"<!-->", b"<!--", b"-->", b"<!doctype html>", b"<?php x ?>", b"</ x>", b"</>",
         b"<script>if(a<b)x('</div>')</script>", b"<script><!--<script></script>-->", b"</script>",
         b"<style>p{}</style>", b"<template>", b"</template>", b"<textarea>", b"</textarea>", b"<title>t</title>",
         b"<svg>", b"</svg>", b"<a b'c>", b'<a href="', b"<head>", b"</head>", b"<body>", b"<meta charset=utf-8>",
         b"<select>", b"</select>", b"\xff\xfe", b"\xe9", b"<li>", b"<ul>", b"</ul>", b"<plaintext>", b"<![CDATA[x]]>",
         b"data-slot=", b'<i data-item="z">']


@st.composite
def slot(draw: st.DrawFn, name: str) -> bytes:
    ids = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4, unique=True))
    stype = draw(st.sampled_from(["carousel", "search", "variant", "recommendations", "bogus"]))
    inner = b"".join(b'<p data-item="%s">%s</p>' % (i.encode(), draw(st.sampled_from(NOISE[:12])).replace(b"<", b"")) for i in ids)
    if stype == "variant":
        inner += b'<template data-variant="v"><b>V</b></template>'
    if stype == "recommendations":
        inner = b'<template data-item-template><a href="{url}">{title}</a></template>' + inner
    return b'<div data-slot="%s" data-slot-type="%s">%s</div>' % (name.encode(), stype.encode(), inner)


@st.composite
def document(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(NOISE), max_size=12))
    for k in range(draw(st.integers(0, 3))):
        parts.insert(draw(st.integers(0, len(parts))), draw(slot(f"s{k}")))
    return b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(document(), st.data())
def test_outside_slots_is_untouched(html: bytes, data: st.DataObject) -> None:
    page = scan(html)
    decisions = {}
    for s in page.slots:
        ids = [i.id for i in s.items]
        decisions[s.name] = Decision(
            slot=s.name, id="d<" + s.name, order=tuple(data.draw(st.permutations(ids))) if ids else None,
            variant="v" if s.variants else None)
    out = rewrite(html, page, decisions, tag=TAG)
    body = out.body
    if out.tag_inserted:
        assert body.count(TAG) == 1
        body = body.replace(TAG, b"", 1)
    else:
        assert TAG not in body
    applied = [s for s in page.slots if s.name in out.applied]
    pattern, last = b"", 0
    for s in applied:
        pattern += re.escape(html[last:s.start]) + rb"(<div data-tailor-decision=.*?)"
        last = s.end
    pattern += re.escape(html[last:])
    assert re.fullmatch(pattern, body, re.S), (html, body)
    assert all(isinstance(p, Problem) for p in out.problems)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([None, "utf-8", "shift_jis", "utf-16", "nonsense"]))
def test_any_bytes_never_raise(html: bytes, charset: str | None) -> None:
    page = scan(html, charset=charset)
    out = rewrite(html, page, {"x": Decision(slot="x", id="1", order=("a",))}, tag=TAG, charset=charset)
    assert out.body.replace(TAG, b"", 1) == html
    assert not any("error" in p.reason for p in out.problems), out.problems
