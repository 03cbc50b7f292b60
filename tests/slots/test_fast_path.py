"""scan()'s fast path (hops between openers after the head) equals scan_exact() (tokenizes every tag).

scan_exact is the reference: the same scanner with the fast path off. Both must agree on
every field of the ScannedPage, for the whole html5lib corpus with slots spliced in at
several places, and for random documents built from the constructs that fool shortcuts
(quoted values holding '>' or '<', comments, raw text, template, select, bogus comments).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _same(html: bytes) -> None:
    assert scan(html) == scan_exact(html), html[:300]


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
          b"<body>", b"</head>", b"<![CDATA[x]]>", b"<plaintext>", b"data-slot=", b' data-slot="q" ', b"=\"", b">", b"'"]


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
