"""Slot rules (first match wins), triggers and their template fields, frequency caps."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.decision_ids import parse_id
from proxy.profile_model import Session
from tests.decisions.helpers import NOW, catalog_of, context, decide, item, page, profile, recent, settings_from, slot

CONFIG = '''
[[segments]]
name = "bargain"
when = { affinity = "sale", above = 0.5 }

[[triggers]]
name = "cart-left"
kind = "cart_abandoned"

[[triggers]]
name = "hesitating"
kind = "repeat_view"
count = 2

[[triggers]]
name = "running-low"
kind = "replenish"
tolerance_days = 3

[[triggers]]
name = "searching"
kind = "event_count"
event = "search"
count = 3
within_minutes = 10

[slots.promo]
variants = ["urgent", "calm", "reminder"]
default = "calm"
caps = { urgent = 2 }

[[slots.promo.rules]]
name = "reminder"
when = { trigger = "cart-left" }
variant = "reminder"
cap_per_day = 3

[[slots.promo.rules]]
name = "think"
when = { trigger = "hesitating" }
variant = "reminder"

[[slots.promo.rules]]
name = "sale"
when = { segment = "bargain" }
variant = "urgent"

[[slots.home-hero.rules]]
name = "no-sale-for-campers"
when = { affinity = "camping", above = 0.5 }
pin = ["c"]
exclude = ["x"]
bury = ["sale"]

[[slots.home-hero.rules]]
name = "hands-off"
when = { device = "tablet" }
personalize = false
'''

PROMO = slot("promo", "variant", variants=("urgent", "calm", "reminder"))
TENT = item("tent", "camping", category="camping", title="Two-person tent")
CATALOG = catalog_of([TENT, item("boots", "hiking", category="hiking", title="Boots")])


@pytest.fixture
def settings(tmp_path: Path):  # noqa: ANN201
    return settings_from(tmp_path, CONFIG)


def promo(settings, prof, **ctx):  # noqa: ANN001, ANN003, ANN201
    return decide(settings, page(PROMO), prof, context(**ctx), CATALOG).decisions.get("promo")


def test_default_variant_when_no_rule_matches(settings) -> None:  # noqa: ANN001
    d = promo(settings, profile())
    assert d is not None and d.variant == "calm"
    assert parse_id(d.id).variant == "calm"


def test_cart_abandoned_chooses_reminder_with_item_fields(settings) -> None:  # noqa: ANN001
    prof = profile(recent=[recent("page_view", "tent", ago=100), recent("add_to_cart", "tent", ago=90)])
    d = promo(settings, prof)
    assert d.variant == "reminder" and "rule=reminder" in d.reason
    assert d.fields == {"trigger": "cart-left", "item": "tent", "title": "Two-person tent", "url": "/p/tent", "category": "camping"}


def test_cart_abandoned_clears_on_purchase_or_removal(settings) -> None:  # noqa: ANN001
    bought = profile(recent=[recent("add_to_cart", "tent", ago=90), recent("purchase", None, ago=50)])
    assert promo(settings, bought).variant == "calm"
    removed = profile(recent=[recent("add_to_cart", "tent", ago=90), recent("remove_from_cart", "tent", ago=50)])
    assert promo(settings, removed).variant == "calm"
    bought_later = profile(recent=[recent("add_to_cart", "tent", ago=90)], purchases={"tent": [NOW - 10]})
    assert promo(settings, bought_later).variant == "calm"


def test_repeat_view_without_cart(settings) -> None:  # noqa: ANN001
    twice = profile(recent=[recent("page_view", "boots", ago=100), recent("page_view", "boots", ago=20)])
    d = promo(settings, twice)
    assert "rule=think" in d.reason and d.fields["title"] == "Boots"
    once = profile(recent=[recent("page_view", "boots", ago=100)])
    assert promo(settings, once).variant == "calm"
    other_session = profile(recent=[recent("page_view", "boots", ago=90000, session=0), recent("page_view", "boots", ago=20)])
    assert promo(settings, other_session).variant == "calm"


def test_repeat_view_counts_session_views(settings) -> None:  # noqa: ANN001
    prof = profile(session=Session(number=1, started=NOW - 60, last_seen=NOW - 10, viewed={"boots": 3}))
    assert "rule=think" in promo(settings, prof).reason


def test_first_matching_rule_wins(settings) -> None:  # noqa: ANN001
    prof = profile(affinities={"sale": 1.0}, recent=[recent("add_to_cart", "tent")])
    assert "rule=reminder" in promo(settings, prof).reason
    assert promo(settings, profile(affinities={"sale": 1.0})).variant == "urgent"


def test_rule_cap_per_day_falls_through(settings) -> None:  # noqa: ANN001
    seen = [NOW - 3600 * h for h in (1, 2, 3)]
    prof = profile(recent=[recent("add_to_cart", "tent")], exposures={"promo:reminder": seen})
    assert promo(settings, prof).variant == "calm"
    yesterday = [NOW - 86400 - 3600 * h for h in (1, 2, 3)]
    prof = profile(recent=[recent("add_to_cart", "tent")], exposures={"promo:reminder": yesterday})
    assert promo(settings, prof).variant == "reminder"


def test_slot_cap_on_variant(settings) -> None:  # noqa: ANN001
    prof = profile(affinities={"sale": 1.0}, exposures={"promo:urgent": [NOW - 100, NOW - 200]})
    assert promo(settings, prof).variant == "calm"
    prof = profile(affinities={"sale": 1.0}, exposures={"promo:urgent": [NOW - 100]})
    assert promo(settings, prof).variant == "urgent"


def test_variant_missing_from_page_is_skipped(settings) -> None:  # noqa: ANN001
    bare = slot("promo", "variant", variants=("calm",))
    prof = profile(affinities={"sale": 1.0})
    d = decide(settings, page(bare), prof).decisions["promo"]
    assert d.variant == "calm"


def test_forced_variant(settings) -> None:  # noqa: ANN001
    assert promo(settings, profile(), forced_variants={"promo": "urgent"}).variant == "urgent"
    assert promo(settings, profile(), forced_variants={"promo": "nope"}).variant == "calm"


def test_replenish_trigger_uses_catalog_interval(tmp_path: Path) -> None:
    s = settings_from(tmp_path, CONFIG.replace('when = { segment = "bargain" }', 'when = { trigger = "running-low" }'))
    cat = catalog_of([item("gels", "running", title="Gels")], repurchase_days={"gels": 30.0})
    due = profile(purchases={"gels": [NOW - 31 * 86400]})
    d = decide(s, page(PROMO), due, context(), cat).decisions["promo"]
    assert d.variant == "urgent" and d.fields["title"] == "Gels"
    early = profile(purchases={"gels": [NOW - 10 * 86400]})
    assert decide(s, page(PROMO), early, context(), cat).decisions["promo"].variant == "calm"


def test_event_count_trigger_window(tmp_path: Path) -> None:
    s = settings_from(tmp_path, CONFIG.replace('when = { segment = "bargain" }', 'when = { trigger = "searching" }'))
    busy = profile(recent=[recent("search", ago=a) for a in (60, 120, 300)])
    got = decide(s, page(PROMO), busy)
    assert got.decisions["promo"].variant == "urgent" and "searching" in got.triggers
    slow = profile(recent=[recent("search", ago=a) for a in (60, 120, 3000)])
    assert decide(s, page(PROMO), slow).decisions["promo"].variant == "calm"


CAROUSEL = slot("home-hero", "carousel", items=(item("a", "running"), item("x", "camping"), item("s", "sale", "camping"), item("c", "climbing"), item("b", "camping")))


def test_carousel_rule_pins_excludes_and_buries(settings) -> None:  # noqa: ANN001
    d = decide(settings, page(CAROUSEL), profile(affinities={"camping": 2.0, "running": 1.0})).decisions["home-hero"]
    assert d.order == ("c", "b", "a", "s")
    assert "rule=no-sale-for-campers" in d.reason


def test_personalize_false_rule_keeps_origin(settings) -> None:  # noqa: ANN001
    got = decide(settings, page(CAROUSEL), profile(affinities={"running": 2.0}), context(device="tablet"))
    assert "home-hero" not in got.decisions and "origin" in got.reasons["home-hero"]


def test_bots_get_nothing(settings) -> None:  # noqa: ANN001
    got = decide(settings, page(CAROUSEL, PROMO), profile(affinities={"running": 2.0}), context(is_bot=True, device="bot"))
    assert got.decisions == {} and got.reasons == {"home-hero": "bot", "promo": "bot"}
