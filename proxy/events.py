"""The collector's wire format: what the tag sends to `POST /_tailor/e`.

Rule: one beacon is a JSON object `{"events": [...]}` sent as `text/plain`
(no CORS preflight). Each event is a tagged union member chosen by its
`"type"` field; unknown fields are rejected so a typo in the tag shows up in
tests, not as silently missing data. Every event carries a random `id`
(de-duplication) and `ts`, the browser's clock in epoch milliseconds (kept for
ordering; the collector stamps its own receive time too).

Identity never travels in the payload: the visitor is Tailor's signed cookie.
"""

from __future__ import annotations

from typing import Annotated, Union

import msgspec

MAX_BEACON_BYTES = 64 * 1024  # sendBeacon's own limit is 64 KiB per page
MAX_EVENTS_PER_BEACON = 200

Id = Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Short = Annotated[str, msgspec.Meta(max_length=256)]
UrlStr = Annotated[str, msgspec.Meta(max_length=2048)]
ItemId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Tags = Annotated[tuple[Tag, ...], msgspec.Meta(max_length=32)]
Millis = Annotated[float, msgspec.Meta(ge=0, le=1e14)]
Scalar = Union[str, float, bool]
PrefValue = Union[Short, float, bool, Annotated[tuple[Short, ...], msgspec.Meta(max_length=32)]]


class _Event(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", omit_defaults=True, kw_only=True):
    id: Id
    ts: Millis
    url: UrlStr = ""  # page the event happened on (path + query)


class PageView(_Event, tag="page_view"):
    referrer: UrlStr = ""
    title: Short = ""
    utm: dict[Short, Short] = {}
    vw: int = 0
    vh: int = 0
    item: ItemId | None = None  # the page's own item (data-page-item), if any
    tags: Tags = ()
    spa: bool = False  # history-API navigation, not a full load
    tzo: Annotated[int, msgspec.Meta(ge=-900, le=900)] | None = None  # minutes, as Date#getTimezoneOffset() (UTC+1 is -60)


class Click(_Event, tag="click"):
    item: ItemId
    tags: Tags = ()
    slot: Short | None = None
    decision: Short | None = None


class Hover(_Event, tag="hover"):
    item: ItemId
    tags: Tags = ()
    ms: Millis = 0
    slot: Short | None = None
    decision: Short | None = None


class Exposure(_Event, tag="exposure"):
    slot: Short
    decision: Short | None = None
    items: Annotated[tuple[ItemId, ...], msgspec.Meta(max_length=64)] = ()


class Engagement(_Event, tag="engagement"):
    """Engaged (visible, focused) time and max scroll depth on a page so far."""

    ms: Millis
    scroll: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0
    item: ItemId | None = None
    tags: Tags = ()


class Search(_Event, tag="search"):
    q: Short


class AddToCart(_Event, tag="add_to_cart"):
    item: ItemId
    tags: Tags = ()
    qty: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    price: Annotated[float, msgspec.Meta(ge=0, le=1e9)] | None = None


class RemoveFromCart(_Event, tag="remove_from_cart"):
    item: ItemId
    qty: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1


class PurchaseLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    item: ItemId
    qty: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    price: Annotated[float, msgspec.Meta(ge=0, le=1e9)] | None = None
    tags: Tags = ()


class Purchase(_Event, tag="purchase"):
    items: Annotated[tuple[PurchaseLine, ...], msgspec.Meta(min_length=1, max_length=100)]
    revenue: Annotated[float, msgspec.Meta(ge=0, le=1e10)] | None = None
    order: Short | None = None


class Preference(_Event, tag="preference"):
    """tailor.prefer({...}): explicit choices, e.g. {"tone": "calm", "tags": ["camping"]}."""

    prefs: Annotated[dict[Annotated[str, msgspec.Meta(max_length=64)], PrefValue], msgspec.Meta(max_length=32)]


class Consent(_Event, tag="consent"):
    """tailor.consent({...}): purposes the visitor agreed to (absent = unchanged)."""

    analytics: bool | None = None
    personalization: bool | None = None


class Custom(_Event, tag="custom"):
    """tailor.track(name, props) for names that are not a built-in event."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    props: Annotated[dict[Annotated[str, msgspec.Meta(max_length=64)], Scalar], msgspec.Meta(max_length=32)] = {}


Event = Union[
    PageView,
    Click,
    Hover,
    Exposure,
    Engagement,
    Search,
    AddToCart,
    RemoveFromCart,
    Purchase,
    Preference,
    Consent,
    Custom,
]
EVENT_TYPES: tuple[str, ...] = tuple(t.__struct_config__.tag for t in Event.__args__)  # type: ignore[attr-defined]


class Beacon(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The envelope. `events` is decoded leniently (raw) so one bad event
    does not reject its good neighbours; see proxy.collector."""

    events: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_EVENTS_PER_BEACON)]
