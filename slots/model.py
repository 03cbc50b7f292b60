"""The data the slot engine takes and gives: plain msgspec Structs, no behaviour.

Rule: everything here is immutable and carries byte offsets into the page the
scan was made from; a ScannedPage is only valid for the exact bytes it was
scanned from.
"""

from __future__ import annotations

from typing import Literal

import msgspec

SlotType = Literal["carousel", "recommendations", "search", "variant"]
SLOT_TYPES: tuple[str, ...] = ("carousel", "recommendations", "search", "variant")


class Item(msgspec.Struct, frozen=True, omit_defaults=True):
    """One catalog item as the page marks it (`data-item` and friends).

    Strings are the *decoded* attribute values (entities resolved), so they
    are safe to compare and store, and must be escaped again to land in HTML.
    """

    id: str
    tags: tuple[str, ...] = ()
    title: str | None = None
    url: str | None = None
    image: str | None = None
    price: str | None = None
    category: str | None = None


class SlotLayout(msgspec.Struct, frozen=True):
    """Byte offsets inside one slot that rewrite() needs (all absolute offsets).

    `items` is aligned with Slot.items; `variants` with Slot.variants, each
    (element start, content start, content end, element end).
    """

    open_end: int = 0  # just past the '>' of the slot's start tag
    name_end: int = 0  # just past the slot element's tag name (attributes go here)
    content_end: int = 0  # the '<' of the slot's end tag
    items: tuple[tuple[int, int], ...] = ()
    template: tuple[int, int, int, int] | None = None  # <template data-item-template>
    variants: tuple[tuple[int, int, int, int], ...] = ()


class Slot(msgspec.Struct, frozen=True):
    """A `data-slot` element found in the page."""

    name: str
    type: SlotType
    start: int  # offset of the '<' of the slot's start tag
    end: int  # offset just past the '>' of its end tag
    items: tuple[Item, ...] = ()
    variants: tuple[str, ...] = ()  # names of <template data-variant> alternatives
    limit: int | None = None  # data-limit (recommendations: how many to show)
    max_items: int | None = None  # data-slot-max (cap on items any decision may show)
    has_template: bool = False  # recommendations: a <template data-item-template> exists
    parent: str | None = None  # name of the slot this one is nested in
    layout: SlotLayout | None = None  # offsets for rewrite(); None on hand-built Slots


class Problem(msgspec.Struct, frozen=True):
    """Why a slot (or the tag) was left as the origin sent it."""

    reason: str
    slot: str | None = None
    offset: int = 0


class ScannedPage(msgspec.Struct, frozen=True):
    slots: tuple[Slot, ...] = ()
    problems: tuple[Problem, ...] = ()
    tag_offset: int | None = None  # where the tag is inserted; None: nowhere safe
    page_item: Item | None = None  # element with `data-page-item` (a product page's own item)
    size: int | None = None  # len() of the scanned bytes; rewrite() refuses other bytes
    charset: str | None = None  # charset the scan settled on (caller's, else <meta>, else BOM)
    page_item_tag: tuple[int, int] | None = None  # start and end of the start tag page_item was read from
    meta_csp: tuple[str, ...] = ()  # policies of <meta http-equiv="Content-Security-Policy"> in the head (decoded)


class Decision(msgspec.Struct, frozen=True, omit_defaults=True):
    """What to do with one slot. Produced by the decision core, applied by rewrite().

    - carousel / search: `order` lists item ids to show, in order; ids not in
      the slot are ignored, items of the slot not listed are dropped.
    - recommendations: `fill` items are rendered through the slot's item
      template (escaped); with no template or no fill the fallback children stay.
    - variant: `variant` names the alternative to send; None keeps the default.
    """

    slot: str
    id: str
    reason: str = ""
    order: tuple[str, ...] | None = None
    fill: tuple[Item, ...] | None = None
    variant: str | None = None
    fields: dict[str, str] | None = None  # extra {placeholders} for templates, e.g. trigger state


class Rewritten(msgspec.Struct, frozen=True):
    body: bytes
    applied: tuple[str, ...] = ()  # slot names rewritten
    problems: tuple[Problem, ...] = ()  # slots left alone, and why
    tag_inserted: bool = False
