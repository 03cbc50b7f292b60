"""Where the tag goes, and pages that must come out exactly as they came in."""

from __future__ import annotations

import pytest

from slots import Decision, rewrite, scan

TAG = b"<script src=/_tailor/t.js defer></script>"


def tagged(html: bytes) -> bytes:
    out = rewrite(html, scan(html), {}, tag=TAG)
    assert out.tag_inserted == (out.body != html)
    return out.body


@pytest.mark.parametrize("html, expected", [
    (b"<html><head><title>x</title></head><body>", b"<html><head><title>x</title>@</head><body>"),
    (b"<HTML><HEAD></HEAD >", b"<HTML><HEAD>@</HEAD >"),
    (b"<html><body class='a>b'><p>", b"<html><body class='a>b'>@<p>"),
    (b"<head><!-- </head> --><script>var s='</head>'</script></head>", b"<head><!-- </head> --><script>var s='</head>'</script>@</head>"),
    (b"<head><script><!--<script></script></head>--></script></head>", b"<head><script><!--<script></script></head>--></script>@</head>"),
    (b"<head><style></head></style><textarea></head></textarea><title></head></title></head>",
     b"<head><style></head></style><textarea></head></textarea><title></head></title>@</head>"),
    (b"<head><template></head></template></head>", b"<head><template></head></template>@</head>"),
    (b'<head><meta content="</head>"></head>', b'<head><meta content="</head>">@</head>'),
    (b"<head><!--></head>", b"<head><!-->@</head>"),
    (b"<head><!--!></head>-->", b"<head><!--!></head>-->"),
    (b"<head><meta charset=utf-8></head>", b"<head><meta charset=utf-8>@</head>"),
    (b"<p>no head nor body", b"<p>no head nor body"),
    (b"<head><title>unclosed </head>", b"<head><title>unclosed </head>"),
    (b"<head><script>x</head>", b"<head><script>x</head>"),
    (b"<head><plaintext></head>", b"<head><plaintext></head>"),
    (b"<head><link href='x></head>", b"<head><link href='x></head>"),
])
def test_tag_position(html: bytes, expected: bytes) -> None:
    assert tagged(html) == expected.replace(b"@", TAG)


def test_meta_charset_after_head_end_in_first_1024_bytes_blocks_the_tag() -> None:
    html = b"<head></head><meta charset=utf-8><body>"
    page = scan(html)
    assert page.tag_offset is None and page.problems


def test_tag_always_after_meta_charset() -> None:
    html = b"<html><head><title>t</title><meta charset=windows-1252></head>"
    assert tagged(html) == b"<html><head><title>t</title><meta charset=windows-1252>" + TAG + b"</head>"


SLOT = b'<div data-slot="c" data-slot-type="carousel"><p data-item="a">A</p><p data-item="b">B</p></div>'


@pytest.mark.parametrize("html, why", [
    (b"<script>" + SLOT + b"</script>", "<script>"),
    (b"<style>" + SLOT + b"</style>", "<style>"),
    (b"<textarea>" + SLOT + b"</textarea>", "<textarea>"),
    (b"<!-- " + SLOT + b" -->", "comment"),
    (b"<template>" + SLOT + b"</template>", "template"),
    (b"<svg>" + SLOT + b"</svg>", "svg"),
    (b"<select>" + SLOT + b"</select>", "select"),
    (SLOT[:-6], "unclosed"),
    (SLOT.replace(b"<p data-item=\"b\">", b"<p data-item=\"b\" title=\"x>"), "unterminated tag"),
    (SLOT.replace(b"carousel", b"slideshow"), "unknown slot type"),
    (SLOT + SLOT, "duplicate"),
    (SLOT.replace(b"</p><p", b"</p></span><p"), "stray"),
    (SLOT.replace(b"A</p>", b"A<!-- unclosed"), "unterminated"),
    (SLOT.replace(b'data-item="b"', b'data-item="a"'), "duplicate item"),
    (b"<div data-slot=\"c\" data-slot-type=\"carousel\">" + b"<p data-item=\"a\">A</p>" + b"x" * 300_000 + b"</div>", "cap"),
])
def test_broken_slots_left_as_is(html: bytes, why: str) -> None:
    page = scan(html)
    assert page.slots == ()
    assert any(why in p.reason for p in page.problems), page.problems
    out = rewrite(html, page, {"c": Decision(slot="c", id="x", order=("b", "a"))}, tag=TAG)
    assert out.body == html and out.applied == ()


def test_other_slots_still_work_next_to_a_broken_one() -> None:
    html = b"<body>" + SLOT.replace(b"carousel", b"nope") + SLOT.replace(b'"c"', b'"d"') + b"</body>"
    page = scan(html)
    assert [s.name for s in page.slots] == ["d"]
    out = rewrite(html, page, {"d": Decision(slot="d", id="x", order=("b",))})
    assert out.applied == ("d",) and out.body.endswith(b'<p data-item="b">B</p></div></body>')


@pytest.mark.parametrize("html", [b"", b"<", b"</", b"<!", b"<!--", b"<a", b"<a b='", b"\xff\xfe", b"\x00<\x00",
                                  b"data-slot", b"<div data-slot>", b"<div data-slot=x data-slot-type=carousel>",
                                  b"<body data-slot=x data-slot-type=carousel></body>", bytes(range(256)) * 4])
def test_odd_inputs_never_raise(html: bytes) -> None:
    page = scan(html)
    out = rewrite(html, page, {"x": Decision(slot="x", id="1", order=("a",))}, tag=TAG)
    assert out.body.replace(TAG, b"", 1) == html


def test_page_without_slots_is_cheap_and_untouched() -> None:
    html = b"<html><head></head><body>" + b"<p class=x>hello</p>" * 10_000 + b"</body></html>"
    page = scan(html)
    assert page.slots == () and page.problems == () and page.tag_offset == 12


def test_content_security_policies_declared_in_the_head_are_read() -> None:
    """Browsers enforce <meta http-equiv="Content-Security-Policy"> from the head only; the proxy needs its nonce."""
    from slots.scanner import scan_exact

    policy = b"script-src &#39;nonce-Ab+/9=&#39; &#39;strict-dynamic&#39;"
    head = b'<html><head><meta charset="utf-8"><META HTTP-EQUIV="Content-Security-Policy" content="' + policy + b'">'
    html = head + b"<meta http-equiv=content-security-policy content=\"img-src 'self'\"></head><body><p>x</p></body>"
    page = scan(html)
    assert page.meta_csp == ("script-src 'nonce-Ab+/9=' 'strict-dynamic'", "img-src 'self'")
    assert page == scan_exact(html)
    ignored = [
        b'<html><head></head><body><meta http-equiv="Content-Security-Policy" content="script-src \'none\'">',  # body
        b'<html><head><template><meta http-equiv="Content-Security-Policy" content="x"></template></head>',
        b'<html><head><meta http-equiv="Content-Security-Policy-Report-Only" content="x"></head>',
        b'<html><head><meta http-equiv="Content-Security-Policy"></head>',  # no content
    ]
    for html in ignored:
        assert scan(html).meta_csp == () and scan(html) == scan_exact(html), html
