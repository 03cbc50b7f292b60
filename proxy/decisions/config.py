"""Personalization configuration: personas, segments, triggers, slot rules, experiments, holdout.

Rule: configuration is data. msgspec decodes it (unknown fields and wrong
types are errors with a path), proxy.decisions.validate checks what crosses
fields (names referenced, impossible conditions), and proxy.decisions.conditions
compiles it into closures once at start-up. Nothing here is ever eval'd.

A condition is one TOML inline table with exactly one *subject* key and the
modifiers that subject accepts (see examples/tailor.toml for the full list):

    when = { all = [ { affinity = "camping", above = 0.5 }, { device = "mobile" } ] }
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Level = Annotated[float, msgspec.Meta(ge=0, le=1)]  # a normalized affinity, 0..1
Count = Annotated[float, msgspec.Meta(ge=0)]
Days = Annotated[float, msgspec.Meta(gt=0)]
Hour = Annotated[int, msgspec.Meta(ge=0, le=23)]
Weekday = Annotated[int, msgspec.Meta(ge=0, le=6)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Weight = Annotated[float, msgspec.Meta(ge=-100, le=100)]
Device = Literal["mobile", "tablet", "desktop", "bot"]
CounterName = Literal[
    "visits",
    "sessions",
    "page_views",
    "clicks",
    "add_to_carts",
    "purchases",
    "revenue",
    "engaged_ms",
    "session_page_views",
    "session_number",
    "cart_items",
    "distinct_purchased",
    "searches",
]
SinceName = Literal["first_seen", "last_purchase", "last_add_to_cart", "last_seen"]
GoalName = Literal["click", "add_to_cart", "purchase"]


class Condition(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, repr_omit_defaults=True):
    """One condition. Exactly one subject key; modifiers must fit the subject (validate checks)."""

    # combinators
    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None
    not_: Condition | None = msgspec.field(default=None, name="not")
    always: bool | None = None
    # affinity-like subjects (normalized 0..1: 1 is the visitor's strongest interest)
    affinity: str | None = None  # long-term, decaying
    session_affinity: str | None = None  # this session only
    interests_above: Level | None = None  # how many tags have an affinity >= this level
    above: Level | None = None
    below: Level | None = None
    # counting subjects
    counter: CounterName | None = None
    at_least: Count | None = None
    at_most: Count | None = None
    # recency
    since: SinceName | None = None
    within_days: Days | None = None
    more_than_days: Days | None = None
    # explicit preferences (tailor.prefer)
    pref: str | None = None
    equals: str | float | bool | None = None
    contains: str | None = None
    # request context
    device: Device | tuple[Device, ...] | None = None
    hour: tuple[Hour, Hour] | None = None  # inclusive local-hour range; [22, 5] wraps midnight
    weekday: tuple[Weekday, ...] | None = None  # Monday = 0
    country: str | tuple[str, ...] | None = None
    referrer: str | tuple[str, ...] | None = None  # domain; subdomains match
    utm_source: str | tuple[str, ...] | None = None
    utm_medium: str | tuple[str, ...] | None = None
    utm_campaign: str | tuple[str, ...] | None = None
    path_prefix: str | None = None
    new_visitor: bool | None = None
    returning: bool | None = None
    # references
    segment: str | None = None
    persona: str | None = None
    trigger: str | None = None


class Persona(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A primary persona. Matching personas compete: the first in file order wins,
    unless `score` weights are given, then the highest Σ weight × affinity wins."""

    name: Name
    when: Condition = Condition(always=True)
    score: dict[str, Weight] = {}
    description: str = ""


class Segment(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A segment: any number of them may hold for one visitor."""

    name: Name
    when: Condition
    description: str = ""


class Trigger(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A signal over this visitor's recent events, giving a state (and often an item).

    kinds:
      repeat_view     an item viewed >= `count` times (this session, or within
                      `within_minutes`) and not added to the cart
      cart_abandoned  an item added to the cart (within the window) and not bought since
      replenish       an item bought about one cycle ago: `cycle_days` (else the
                      catalog's typical repurchase interval) ± `tolerance_days`
      event_count     >= `count` events of type `event` within the window
    """

    name: Name
    kind: Literal["repeat_view", "cart_abandoned", "replenish", "event_count"]
    count: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 2
    within_minutes: Annotated[float, msgspec.Meta(gt=0)] | None = None  # None: this session
    event: str | None = None  # event_count: page_view, click, add_to_cart, search, ...
    cycle_days: Days | None = None
    tolerance_days: Annotated[float, msgspec.Meta(ge=0)] = 3.0
    description: str = ""


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One rule of a slot. Rules are tried in order; the first that matches wins."""

    name: Name | None = None
    when: Condition = Condition(always=True)
    variant: Name | None = None  # variant slots: the alternative to show
    cap_per_day: Annotated[int, msgspec.Meta(ge=1)] | None = None  # skip this rule once shown this often today
    pin: tuple[str, ...] = ()  # item ids placed first, in this order
    exclude: tuple[str, ...] = ()  # item ids never shown
    exclude_tags: tuple[str, ...] = ()
    boost: dict[str, Weight] = {}  # tag -> extra score
    bury: tuple[str, ...] = ()  # tags pushed to the end
    personalize: bool = True  # false: keep the origin's content (no decision)


class SlotConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Options and rules for the slot named in `[slots.NAME]`."""

    type: Literal["carousel", "recommendations", "search", "variant"] | None = None  # optional: checks rules fit
    variants: tuple[Name, ...] = ()  # optional: declared alternatives, checked against rules and arms
    default: Name | None = None  # variant shown when no rule or experiment chooses one
    caps: dict[str, Annotated[int, msgspec.Meta(ge=1)]] = {}  # variant -> max exposures per visitor per day
    rules: tuple[Rule, ...] = ()
    personalize: bool = True  # false: only rules and experiments change this slot
    session_weight: Level = 0.5  # blend of this session's interests into long-term affinity
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None  # recommendations, when the page has no data-limit
    max_per_category: Annotated[int, msgspec.Meta(ge=1)] = 3  # recommendations variety
    coview_weight: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    popularity_weight: Annotated[float, msgspec.Meta(ge=0)] = 0.2
    buy_again: bool = True
    max_shift: Annotated[int, msgspec.Meta(ge=0)] | None = None  # search: overrides [decisions] search_max_shift


class Arm(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name
    weight: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    variant: Name | None = None  # variant slots: what this arm shows
    strategy: Literal["personalized", "origin"] = "personalized"  # origin: not personalized (control)


class Experiment(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An experiment on one slot: split (sticky hash of visitor id and name) or bandit."""

    name: Name
    slot: str
    arms: tuple[Arm, ...]
    control: Name | None = None  # default: the first arm
    mode: Literal["split", "bandit"] = "split"
    per_persona: bool = False  # bandit: learn one posterior per persona
    goal: tuple[GoalName, ...] = ("click",)
    window_hours: Annotated[float, msgspec.Meta(gt=0)] = 24.0  # attribution window after exposure
    enabled: bool = True


class Holdout(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A share of visitors (stable hash) who get no decisions at all: the baseline."""

    percent: Percent = 0.0
    salt: str = "holdout"
