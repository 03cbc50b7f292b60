"""Every html5lib tree-construction input goes through scan+rewrite byte-identical outside the slot.

lexbor (selectolax) is the oracle for meaning: wherever the engine put the tag,
a real parser must see exactly one tag script element; wherever it rewrote a
slot, the parser must see that slot element with the new item order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from slots import Decision, rewrite, scan

# shared/ sits beside the repository (CI clones main next to it); /work/shared on developer machines.
CORPUS = next(
    (c for c in (Path(__file__).resolve().parents[3] / "shared" / "corpus" / "html5lib", Path("/work/shared/corpus/html5lib")) if c.is_dir()),
    Path(__file__).resolve().parents[3] / "shared" / "corpus" / "html5lib",
)
if not CORPUS.is_dir():  # CI clones shared/ beside the repo
    CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "html5lib"
FILES = sorted(CORPUS.glob("*.html"))
TAG = b'<script src="/_tailor/t.js" defer></script>'
SLOT = b'<div data-slot="t" data-slot-type="carousel"><p data-item="a">A</p><p data-item="b">B</p></div>'
DECISION = {"t": Decision(slot="t", id="dec-1", order=("b", "a"))}


def test_corpus_is_there() -> None:
    assert len(FILES) > 1000, f"html5lib corpus missing at {CORPUS}"


def _scripting_off_differs(html: bytes) -> bool:
    # lexbor parses with scripting off, so <noscript> content is markup to it and raw text to browsers.
    return b"<noscript" in html.lower()


@pytest.mark.parametrize("chunk", range(8))
def test_tag_only_changes_nothing_else(chunk: int) -> None:
    placed = 0
    for path in FILES[chunk::8]:
        html = path.read_bytes()
        page = scan(html)
        out = rewrite(html, page, {}, tag=TAG)
        if page.tag_offset is None:
            assert out.body == html and not out.tag_inserted, path.name
            continue
        placed += 1
        off = page.tag_offset
        assert out.tag_inserted and out.body == html[:off] + TAG + html[off:], path.name
        tree = LexborHTMLParser(out.body)
        assert len(tree.css('script[src="/_tailor/t.js"]')) == 1, path.name
    assert placed > 10


@pytest.mark.parametrize("chunk", range(8))
def test_injected_slot_rewritten_alone(chunk: int) -> None:
    applied = 0
    for path in FILES[chunk::8]:
        html = path.read_bytes()
        for where in (0, len(html)):
            page_bytes = html[:where] + SLOT + html[where:]
            page = scan(page_bytes)
            out = rewrite(page_bytes, page, DECISION, tag=TAG)
            body = out.body
            if out.tag_inserted:
                assert page.tag_offset is not None and body.count(TAG) == 1
                body = body.replace(TAG, b"", 1)
            if "t" not in out.applied:
                assert body == page_bytes, path.name
                assert any(p.slot == "t" for p in out.problems), path.name
                continue
            applied += 1
            (slot,) = [s for s in page.slots if s.name == "t"]
            assert (slot.start, slot.end) == (where, where + len(SLOT)), path.name
            tail = len(page_bytes) - slot.end
            assert body[:where] == html[:where] and body[len(body) - tail:] == html[where:], path.name
            assert body[where:len(body) - tail] == (
                b'<div data-tailor-decision="dec-1" data-slot="t" data-slot-type="carousel">'
                b'<p data-item="b">B</p><p data-item="a">A</p></div>'
            )
            if not _scripting_off_differs(page_bytes):
                (node,) = LexborHTMLParser(out.body).css('div[data-slot="t"]')
                assert [c.attributes.get("data-item") for c in node.iter()] == ["b", "a"], path.name
    assert applied > 100
