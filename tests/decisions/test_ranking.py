"""Zero-config personalization, carousel order, bounded search re-rank, recommendations."""

from __future__ import annotations

from hypothesis import given, settings as hsettings, strategies as st

from proxy.decisions.ranking import bounded_rerank, search_order
from proxy.profile_model import Session
from proxy.settings import Settings
from tests.decisions.helpers import NOW, catalog_of, context, decide, item, page, profile, recent, slot

ZERO = Settings()
HERO = slot("home-hero", "carousel", items=(item("r1", "running"), item("c1", "camping"), item("h1", "hiking"), item("c2", "camping", "sale")))


def test_zero_config_carousel_follows_affinity_and_keeps_ties_stable() -> None:
    d = decide(ZERO, page(HERO), profile(affinities={"camping": 3.0, "hiking": 1.0})).decisions["home-hero"]
    assert d.order == ("c1", "c2", "h1", "r1")
    assert d.reason == "affinity" and d.id.startswith("d1.")


def test_zero_config_new_visitor_keeps_origin_order() -> None:
    got = decide(ZERO, page(HERO), None)
    assert "home-hero" not in got.decisions and got.reasons["home-hero"] == "no interests yet"
    got = decide(ZERO, page(HERO), profile())
    assert "home-hero" not in got.decisions


def test_session_interest_blends_in() -> None:
    # long-term: running; this session: only camping so far -> camping rises above hiking
    prof = profile(
        affinities={"running": 3.0, "hiking": 2.0},
        session=Session(number=3, started=NOW - 100, last_seen=NOW - 5, affinities={"camping": 4.0}),
    )
    d = decide(ZERO, page(HERO), prof).decisions["home-hero"]
    assert d.order.index("c1") < d.order.index("h1")
    long_only = decide(ZERO, page(HERO), profile(affinities={"running": 3.0, "hiking": 2.0})).decisions["home-hero"]
    assert long_only.order.index("c1") > long_only.order.index("h1")


def test_bounded_rerank_examples() -> None:
    assert bounded_rerank([0, 0, 0, 0, 9], 2) == [0, 1, 4, 2, 3]
    assert bounded_rerank([0, 1, 2, 3, 4], 0) == [0, 1, 2, 3, 4]
    assert bounded_rerank([5, 0, 0, 0, 0, 0], 1)[:2] == [0, 1]
    assert bounded_rerank([], 3) == []


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=40), st.integers(min_value=0, max_value=6))
def test_no_item_moves_more_than_max_shift(scores: list[float], shift: int) -> None:
    out = bounded_rerank(scores, shift)
    assert sorted(out) == list(range(len(scores)))
    for position, origin in enumerate(out):
        assert abs(position - origin) <= shift


@hsettings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["camping", "running", "sale", "kids"]), min_size=1, max_size=30), st.integers(min_value=0, max_value=4))
def test_search_slot_respects_max_shift(tags: list[str], shift: int) -> None:
    items = tuple(item(f"i{i}", t) for i, t in enumerate(tags))
    order = search_order(items, {"camping": 1.0, "kids": 0.5}, shift)
    assert sorted(order) == sorted(x.id for x in items)
    for position, item_id in enumerate(order):
        assert abs(position - int(item_id[1:])) <= shift


def test_search_decision_uses_configured_shift() -> None:
    results = tuple(item(f"i{i}", "running") for i in range(19)) + (item("i19", "camping"),)
    d = decide(ZERO, page(slot("search-results", "search", items=results)), profile(affinities={"camping": 1.0})).decisions["search-results"]
    assert d.order.index("i19") == 19 - ZERO.decisions.search_max_shift
    assert "shift<=3" in d.reason


CATALOG_ITEMS = [
    item("tent", "camping", category="camping"),
    item("stove", "camping", category="camping"),
    item("lamp", "camping", category="camping"),
    item("mat", "camping", category="camping"),
    item("boots", "hiking", category="hiking"),
    item("poles", "hiking", category="hiking"),
    item("shoes", "running", category="running"),
    item("gels", "running", "replenishable", category="running"),
]
POP = {"tent": 9, "stove": 8, "lamp": 7, "mat": 6, "boots": 5, "poles": 4, "shoes": 3, "gels": 2}


def recs(prof, *, limit: int = 4, page_item=None, **stats):  # noqa: ANN001, ANN003, ANN201
    cat = catalog_of(CATALOG_ITEMS, POP, **stats)
    pg = page(slot("product-recs", "recommendations", limit=limit), page_item=page_item)
    return decide(ZERO, pg, prof, context(), cat).decisions.get("product-recs")


def ids(decision) -> list[str]:  # noqa: ANN001
    return [x.id for x in decision.fill]


def test_new_visitor_gets_popular_items_with_variety() -> None:
    d = recs(None)
    assert ids(d) == ["tent", "stove", "lamp", "boots"]  # at most 3 per category by default
    assert d.reason == "popularity"


def test_empty_catalog_means_no_decision() -> None:
    got = decide(ZERO, page(slot("home-recs", "recommendations", limit=4)), None)
    assert got.decisions == {} and got.reasons["home-recs"] == "nothing to recommend"


def test_affinity_recommendations_exclude_page_item_cart_and_purchases() -> None:
    prof = profile(
        affinities={"running": 3.0, "hiking": 1.0},
        session=Session(number=1, started=NOW - 60, last_seen=NOW - 5, cart={"boots": 1}),
        purchases={"shoes": [NOW - 86400]},
    )
    d = recs(prof, page_item=item("poles", "hiking", category="hiking"))
    got = ids(d)
    assert "poles" not in got and "boots" not in got and "shoes" not in got
    assert got[0] == "gels" and len(got) == 4


def test_buy_again_once_the_interval_has_passed() -> None:
    prof = profile(affinities={"camping": 1.0}, purchases={"gels": [NOW - 40 * 86400]})
    assert "gels" in ids(recs(prof, repurchase_days={"gels": 30.0}))
    prof = profile(affinities={"camping": 1.0}, purchases={"gels": [NOW - 5 * 86400]})
    assert "gels" not in ids(recs(prof, repurchase_days={"gels": 30.0}))


def test_coviews_of_the_page_item_rank_first_for_a_new_visitor() -> None:
    d = recs(None, page_item=item("tent", "camping", category="camping"), coviews={"tent": {"poles": 10.0, "gels": 5.0, "tent": 99.0}})
    assert ids(d)[:2] == ["poles", "gels"] and "tent" not in ids(d)


def test_recently_viewed_items_seed_coviews() -> None:
    prof = profile(recent=[recent("page_view", "shoes")])
    d = recs(prof, coviews={"shoes": {"mat": 1.0}})
    assert ids(d)[0] == "mat"


def test_limit_and_max_items() -> None:
    assert len(ids(recs(None, limit=2))) == 2
    cat = catalog_of(CATALOG_ITEMS, POP)
    pg = page(slot("home-recs", "recommendations", limit=6, max_items=3))
    assert len(decide(ZERO, pg, None, context(), cat).decisions["home-recs"].fill) == 3
