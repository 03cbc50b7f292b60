"""What Tailor knows about one visitor, and about the request being served.

Rule: these Structs are the contract between the collector (which folds
events into a Profile, see proxy.profile_fold), the profile store (which
persists them with msgspec) and the decision core (which only reads them).
Add fields with defaults only, so stored profiles keep decoding.

Score and RecentEvent hold scalars only and are `gc=False`: the dicts of
scores are then untracked by the garbage collector, and a full collection no
longer walks every score of every cached profile (4,096 cached profiles:
29 -> 19 ms per full collection).

Times are epoch seconds (float). Affinity scores decay with a half-life; the
stored value is the score as of `ts`, and readers decay it to "now".
"""

from __future__ import annotations

from typing import Literal

import msgspec

DeviceClass = Literal["mobile", "tablet", "desktop", "bot"]


class Score(msgspec.Struct, array_like=True, gc=False):
    """A decaying score: `value` as of time `ts`."""

    value: float
    ts: float


class RecentEvent(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """A compact trace of one event, kept (bounded) for triggers."""

    type: str
    ts: float
    item: str | None = None
    session: int = 0


class Session(msgspec.Struct, omit_defaults=True):
    number: int = 0  # 1 for the first session
    started: float = 0.0
    last_seen: float = 0.0
    page_views: int = 0
    affinities: dict[str, float] = {}  # this session's tag interests (no decay inside a session)
    viewed: dict[str, int] = {}  # item id -> views this session
    cart: dict[str, int] = {}  # item id -> quantity currently in the cart
    searches: list[str] = []
    landing_referrer: str | None = None
    utm: dict[str, str] = {}
    engaged: dict[str, float] = {}  # page url -> engaged ms reported so far (engagement events are cumulative)


class Counters(msgspec.Struct, omit_defaults=True):
    visits: int = 0  # page views that started a session (== sessions)
    sessions: int = 0
    page_views: int = 0
    clicks: int = 0
    add_to_carts: int = 0
    purchases: int = 0
    revenue: float = 0.0
    engaged_ms: float = 0.0


class Profile(msgspec.Struct, omit_defaults=True):
    vid: str
    created: float = 0.0
    updated: float = 0.0
    version: int = 0  # bumped on every write; lets caches check freshness
    customer: str | None = None  # linked known customer (asserted by the origin only)
    affinities: dict[str, Score] = {}  # tag -> decaying long-term affinity
    item_affinities: dict[str, Score] = {}  # item -> decaying interest
    session: Session = msgspec.field(default_factory=Session)
    counters: Counters = msgspec.field(default_factory=Counters)
    purchases: dict[str, list[float]] = {}  # item -> purchase times (buy-again timing)
    prefs: dict[str, str | float | bool | list[str]] = {}
    consent: dict[str, bool] = {}  # purpose -> granted
    gpc: bool = False  # Sec-GPC seen: no profile writes beyond consent state
    recent: list[RecentEvent] = []  # bounded, newest last
    exposures: dict[str, list[float]] = {}  # "slot:variant" -> exposure times (frequency caps)
    experiments: dict[str, str] = {}  # experiment -> arm seen (sticky record)
    tz_offset: int | None = None  # minutes, as the browser's Date#getTimezoneOffset() last reported


class Context(msgspec.Struct, frozen=True, omit_defaults=True):
    """The request being served, as the decision core sees it (no I/O objects)."""

    now: float
    path: str = "/"
    query: dict[str, str] = {}
    device: DeviceClass = "desktop"
    returning: bool = False
    local_hour: int = 12
    weekday: int = 0  # Monday = 0
    country: str | None = None
    referrer_domain: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    search_query: str | None = None
    page_item: str | None = None
    is_bot: bool = False
    preview: bool = False  # QA forced persona / variant: left out of statistics
    forced_persona: str | None = None
    forced_variants: dict[str, str] = {}  # slot or experiment -> variant/arm
    vid: str | None = None  # visitor id when there is no stored profile yet (bucketing, holdout)


class CatalogStats(msgspec.Struct, omit_defaults=True):
    """Cross-visitor facts the recommendations need, maintained at ingest."""

    popularity: dict[str, float] = {}  # item -> decayed views+carts+purchases
    coviews: dict[str, dict[str, float]] = {}  # item -> {other item -> weight}
    repurchase_days: dict[str, float] = {}  # item -> typical days between purchases
