"""Tailor's slot engine: find marked slots in HTML bytes and apply decisions.

A pure library: bytes and decisions in, bytes out. No web framework, no
asyncio, no I/O. Every byte outside a rewritten slot leaves exactly as it came.

    page = scan(html, charset="utf-8")            # slots, page_item, tag_offset, problems
    out = rewrite(html, page, {"home-hero": Decision(slot="home-hero", id="d1", order=("b", "a"))},
                  tag=b'<script src="/_tailor/t.js" defer></script>', charset="utf-8")
    out.body, out.applied, out.problems, out.tag_inserted

    memo = ScanMemo()                              # kept across pages: unchanged slots are not parsed again
    page = scan(html, charset="utf-8", memo=memo)

    again = rescan(html, page, next_html, charset="utf-8")  # the same page with another CSRF token: no walk
    page = again if again is not None else scan(next_html, charset="utf-8", memo=memo)
"""

from slots.memo import ScanMemo
from slots.model import SLOT_TYPES, Decision, Item, Problem, Rewritten, ScannedPage, Slot, SlotType
from slots.rescan import rescan
from slots.rewriter import rewrite
from slots.scanner import scan

__all__ = [
    "SLOT_TYPES",
    "Decision",
    "Item",
    "Problem",
    "Rewritten",
    "ScanMemo",
    "ScannedPage",
    "Slot",
    "SlotType",
    "rescan",
    "rewrite",
    "scan",
]
