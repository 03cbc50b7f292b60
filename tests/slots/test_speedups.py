"""slots._speedups (C) returns exactly what its Python twins in slots.scanner return.

The Python twins are the fallback and the oracle. Inputs are the bytes that steer the loops
(quotes, '=', '<', '>', '/', '!', letters of the interesting names in both cases, data-
markers) mixed with arbitrary bytes (NUL, non-ASCII), at positions inside and outside the input.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slots import scanner

C = scanner._speedups

TOKENS = [b"<", b">", b"/", b"=", b'"', b"'", b"!", b"?", b" ", b"\t", b"\x00", b"\xc3\xa9", b"\xff", b"a", b"Z", b"-",
          b"<!--", b"-->", b"</", b"/>", b'=""', b"=''", b"data-", b"DATA-", b"data-slot", b"data-page-item",
          b"data-slot=", b"data-item", b"<p>", b"</p>", b"<li>", b"<img", b"<hr", b"<br/>", b"<b>", b"</b>",
          b"<x-y>", b"</x-y>", b"<script", b"<SCRIPT", b"</script", b"<style", b"<svg", b"</SVG", b"</sv", b"<templ",
          b"</template", b"<head", b"</head", b"<body", b"<meta", b"<select", b"<math", b"<xmp", b"<frameset",
          b"<plaintext", b"<noscript", b"<title", b"<textarea", b"<iframe", b"<noembed", b"<noframes", b"<div",
          b"</div", b"<h2>", b"</h2>", b"<!x>", b"<?x>"]


@st.composite
def html(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=4)), max_size=40))
    return b"".join(parts)


positions = st.integers(-5, 300)


def test_extension_is_built() -> None:
    """CI has a compiler: a silently broken build must fail here, not just run slower."""
    assert C is not None, "slots._speedups was not built (pip install -e . should compile slots/_speedups.c)"
    assert C.__file__.endswith((".so", ".pyd"))


needs_c = pytest.mark.skipif(C is None, reason="extension not built (test_extension_is_built reports it)")


@needs_c
@settings(max_examples=1500, deadline=None)
@given(html())
def test_hits_equal_python(doc: bytes) -> None:
    assert C.hits(doc) == scanner._hits_py(doc), doc


@needs_c
@settings(max_examples=1500, deadline=None)
@given(html(), positions, positions)
def test_quoted_gt_equals_python(doc: bytes, pos: int, end: int) -> None:
    assert C.quoted_gt(doc, pos, end) is scanner._quoted_gt_py(doc, pos, end), (doc, pos, end)


@needs_c
@settings(max_examples=1500, deadline=None)
@given(html(), positions, positions)
def test_skip_end_equals_python(doc: bytes, pos: int, stop: int) -> None:
    assert C.skip_end(doc, pos, stop) == scanner._skip_end_py(doc, pos, stop), (doc, pos, stop)


@needs_c
@settings(max_examples=2000, deadline=None)
@given(html(), positions, positions, st.booleans())
def test_frag_token_equals_python(doc: bytes, pos: int, limit: int, lax: bool) -> None:
    assert C.frag_token(doc, pos, limit, lax) == scanner._frag_token_py(doc, pos, limit, lax), (doc, pos, limit, lax)


@needs_c
def test_known_cases() -> None:
    """Cases that once differed or sit on a boundary (a tag cut by the limit, a data- attribute, '=' runs)."""
    for doc in (b'<p data-item="a">A</p>', b"<p>a</p><b", b"<img src=x><hr>", b'==""">', b"<a b='>'>", b"</",
                b"<", b"</sv", b"data-slot", b"data-slot ", b"<p x=\"", b'<p =data-x>t</p><i>'):
        for lax in (True, False):
            for a in range(len(doc) + 1):
                for b in range(a, len(doc) + 1):
                    assert C.frag_token(doc, a, b, lax) == scanner._frag_token_py(doc, a, b, lax), (doc, a, b)
                    assert C.skip_end(doc, a, b) == scanner._skip_end_py(doc, a, b), (doc, a, b)
                    assert C.quoted_gt(doc, a, b) is scanner._quoted_gt_py(doc, a, b), (doc, a, b)
        assert C.hits(doc) == scanner._hits_py(doc)


@needs_c
def test_huge_inputs() -> None:
    rng = random.Random(7)
    doc = b"".join(rng.choice(TOKENS) for _ in range(200_000))
    n = len(doc)
    assert C.hits(doc) == scanner._hits_py(doc)
    for pos, end in ((0, n), (n // 3, n), (-1, 10**18), (n, 0)):
        assert C.quoted_gt(doc, pos, end) is scanner._quoted_gt_py(doc, pos, end)
        assert C.skip_end(doc, pos, end) == scanner._skip_end_py(doc, pos, end)
    for pos in range(0, n, n // 50):
        for lax in (True, False):
            assert C.frag_token(doc, pos, n, lax) == scanner._frag_token_py(doc, pos, n, lax)


@needs_c
def test_bad_arguments_raise_type_errors() -> None:
    for call in (lambda: C.hits("text"), lambda: C.hits(), lambda: C.hits(bytearray(b"<a>")),
                 lambda: C.quoted_gt("a", 0, 1), lambda: C.quoted_gt(b"a", "0", 1), lambda: C.skip_end(b"a", 0),
                 lambda: C.frag_token(b"a", 0, 1), lambda: C.skip_end(b"a", 0.5, 1)):
        with pytest.raises(TypeError):
            call()
    with pytest.raises(OverflowError):
        C.skip_end(b"a", 2**70, 1)
