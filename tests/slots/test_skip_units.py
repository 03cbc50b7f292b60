"""The walk's skip regex takes whole comments, doctypes, <head>, plain <meta> and closed raw text elements
in one step; that must change nothing: scan() and scan_exact() equal what they give when the skip regex
knows only ordinary tags and every such unit goes through the tokenizer one token at a time.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slots import scanner
from slots.tokenizer import comment_end

PLAIN_SKIP = scanner._skip(units=False)
SLOT = b'<div data-slot="s%d" data-slot-type="carousel"><p data-item="a">A</p><p data-item="b">B</p></div>'
# What the units take, what they must leave to the tokenizer, and what sits next to them.
PIECES = [
    b"<!doctype html>", b"<!DOCTYPE x>", b"<!>", b"<!->", b"<?php x ?>", b"<?>", b"<![CDATA[x]]>", b"<!-- c -->",
    b"<!-->", b"<!--->", b"<!---->", b"<!--x--!>", b"<!----!>", b"<!---!>", b"<!-- - -- --->", b"<!--", b"-->",
    b"<!-- <div data-slot=\"z\"> -->", b"<head>", b"<HEAD lang=en>", b'<head data-x="1">', b'<head DATA-SLOT="h">',
    b'<head data-SLOT="h" data-slot-type="variant">', b"</head>", b"<body>", b"</body>", b'<meta charset="utf-8">',
    b"<META CHARSET=latin1>", b'<meta name="viewport" content="width=device-width">', b'<meta http-equiv="Content-Type" '
    b'content="text/html; charset=utf-8">', b'<meta HTTP-EQUIV="content-security-policy" content="script-src \'self\'">',
    b'<meta name="x" charset>', b'<meta content="charset=utf-8">', b'<meta charsetx="1">', b'<meta data-page-item="p1">',
    b'<meta DATA-PAGE-ITEM="p2" data-title="T">', b'<meta data-PAGE-item="p3">', b"<meta/charset=utf-8>",
    b"<meta =charset>", b"<meta charset/>", b"<title>t</title>", b"<TITLE>a<b>c</Title >", b"<title>x</titlex></title>",
    b"<title>unclosed", b"<title>a</title", b'<title data-slot="t">x</title>', b"<title>data-slot=x</title>",
    b"<style>p{}</style>", b"<STYLE media=x>a</style/>", b"<style>a</style x=\">\">", b'<style data-SLOT="q">x</style>',
    b"<textarea><p></textarea>", b"<xmp><b></xmp>", b"<iframe>x</iframe>", b"<noembed>x</noembed>",
    b"<noframes>x</noframes>", b"<noscript><p>x</p></noscript>", b"<script>a<b</script>", b"<script><!--</script>",
    b"<plaintext>", b"<template>", b"</template>", b"<svg>", b"</svg>", b"<p title='a>b'>", b'<a href="x">', b"text ",
    b"a < b", b"<link rel=stylesheet href=x>", b"</p>", b"<select>", b"</select>",
]


def _both(html: bytes) -> tuple[object, object]:
    return scanner.scan(html), scanner.scan_exact(html)


def _same_without_units(html: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, exact = _both(html)
    with monkeypatch.context() as m:
        m.setattr(scanner, "_SKIP", PLAIN_SKIP)
        plain_fast, plain_exact = _both(html)
    assert exact == plain_exact, html
    assert fast == plain_fast == exact, html


@st.composite
def document(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(PIECES), max_size=12))
    for k in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), SLOT % k)
    return b"".join(parts)


@settings(max_examples=1500, deadline=None)
@given(document())
def test_units_change_nothing(html: bytes) -> None:
    with pytest.MonkeyPatch.context() as mp:
        _same_without_units(html, mp)


def test_units_are_taken_whole() -> None:
    """The units really are skipped in one match (else this file tests nothing)."""
    for unit in (b"<!doctype html>", b"<!-- c -->", b"<!--->", b"<head>", b'<meta name="a" content="b">',
                 b"<title>t</title>", b"<style>p{}</style>", b"<TEXTAREA>x</textarea>"):
        assert scanner._SKIP.match(unit).end() == len(unit), unit
        assert PLAIN_SKIP.match(unit).end() == 0, unit
    for stop in (b"<meta charset=utf-8>", b'<meta Http-Equiv="refresh" content="0">', b"<head data-slot=x>",
                 b"<script>x</script>", b"<noscript>x</noscript>", b"<title>open", b"<!-- open", b"<![CDATA[x]]>"):
        assert scanner._SKIP.match(stop).end() == 0, stop


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="-!>x<", max_size=14))
def test_comment_unit_ends_where_the_tokenizer_does(inner: str) -> None:
    html = b"<!--" + inner.encode()
    end = comment_end(html, 0)
    m = re.compile(scanner._COMMENT).match(html)
    if html.find(b"-->", 2) >= 0 or html.find(b"--!>", 4) >= 0:  # terminated, as comment_end() looks
        assert m is not None and m.end() == end, html
    else:  # unterminated: left to the tokenizer
        assert m is None, html
