"""Tailor's slot engine: find marked slots in HTML bytes and apply decisions.

A pure library: bytes and decisions in, bytes out. No web framework, no
asyncio, no I/O. Every byte outside a rewritten slot leaves exactly as it came.
"""

from slots.model import SLOT_TYPES, Decision, Item, Problem, Rewritten, ScannedPage, Slot, SlotType

__all__ = [
    "SLOT_TYPES",
    "Decision",
    "Item",
    "Problem",
    "Rewritten",
    "ScannedPage",
    "Slot",
    "SlotType",
    "rewrite",
    "scan",
]


def scan(html: bytes) -> ScannedPage:  # pragma: no cover - replaced by slots.engine
    from slots.engine import scan as _scan

    return _scan(html)


def rewrite(html: bytes, page: ScannedPage, decisions, *, tag: bytes = b"", debug: bool = False) -> Rewritten:  # pragma: no cover
    from slots.engine import rewrite as _rewrite

    return _rewrite(html, page, decisions, tag=tag, debug=debug)
