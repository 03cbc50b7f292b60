"""decide_shared: decisions for visitors without a profile are reused only where that is exact."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
from hypothesis import given, settings as hsettings, strategies as st

from proxy.decision_ids import parse_id
from proxy.decisions.engine import DecisionEngine
from tests.decisions.helpers import NOW, catalog_of, context, item, page, settings_from, slot

CONFIG = '''
[[personas]]
name = "night-owl"
when = { hour = [22, 4] }

[[segments]]
name = "weekend"
when = { weekday = [5, 6] }

[slots.promo]
variants = ["mobile", "news", "swiss", "ref", "sale", "weekend"]

[[slots.promo.rules]]
when = { device = "mobile" }
variant = "mobile"

[[slots.promo.rules]]
when = { utm_source = "newsletter" }
variant = "news"

[[slots.promo.rules]]
when = { country = "CH" }
variant = "swiss"

[[slots.promo.rules]]
when = { referrer = "example.org" }
variant = "ref"

[[slots.promo.rules]]
when = { path_prefix = "/sale" }
variant = "sale"

[[slots.promo.rules]]
when = { segment = "weekend" }
variant = "weekend"

[[slots.home-recs.rules]]
when = { persona = "night-owl" }
boost = { camping = 2.0 }
'''

ITEMS = [item(f"i{i}", "camping" if i % 2 else "hiking") for i in range(8)]
PAGE = page(
    slot("promo", "variant", variants=("mobile", "news", "swiss", "ref", "sale", "weekend")),
    slot("home-recs", "recommendations", limit=3, has_template=True),
    slot("home-hero", "carousel", items=tuple(ITEMS[:4])),
)

contexts = st.builds(
    lambda device, hour, day, path, utm, country, ref, vid: context(
        now=NOW, device=device, local_hour=hour, weekday=day, path=path, country=country, referrer_domain=ref,
        utm_source=utm, query={"utm_source": utm} if utm else {}, vid=vid,
    ),
    st.sampled_from(["desktop", "mobile", "tablet"]),
    st.integers(0, 23),
    st.integers(0, 6),
    st.sampled_from(["/", "/sale/shoes", "/p/i1"]),
    st.sampled_from([None, "newsletter", "ads"]),
    st.sampled_from([None, "CH", "DE"]),
    st.sampled_from([None, "example.org", "news.example.org", "other.net"]),
    st.text("abcdefghijklmnopqrstuv", min_size=22, max_size=22),
)


def without_nonces(pd):
    return {name: msgspec.structs.replace(d, id=d.id[:-8]) for name, d in pd.decisions.items()}


def make(tmp_path_factory, text=CONFIG):
    engine = DecisionEngine(settings_from(tmp_path_factory.mktemp("cfg"), text))
    cat = catalog_of(ITEMS, popularity={i.id: float(n) for n, i in enumerate(ITEMS)})
    return engine, cat


@hsettings(max_examples=150, deadline=None)
@given(ctxs=st.lists(contexts, min_size=1, max_size=12))
def test_shared_decisions_equal_fresh_ones_for_every_context(tmp_path_factory, ctxs):
    engine, cat = make(tmp_path_factory)
    rng = random.Random(7)
    for ctx in ctxs + ctxs:  # the second round is served from the memo
        shared = engine.decide_shared(PAGE, ctx, cat, rng=rng)
        fresh = engine.decide(PAGE, None, ctx, cat, rng=rng)
        assert without_nonces(shared) == without_nonces(fresh)
        assert (shared.persona, shared.segments, shared.reasons) == (fresh.persona, fresh.segments, fresh.reasons)


def test_reused_decisions_get_fresh_ids(tmp_path_factory):
    engine, cat = make(tmp_path_factory)
    rng = random.Random(1)
    ctx = context(now=NOW, device="mobile")
    ids = set()
    for _ in range(50):
        pd = engine.decide_shared(PAGE, ctx, cat, rng=rng)
        ref = parse_id(pd.decisions["promo"].id)
        assert ref is not None and ref.variant == "mobile" and len(ref.nonce) == 8
        ids.add(pd.decisions["promo"].id)
    assert len(ids) == 50  # exposures of different renders are never confused


def test_a_catalog_change_is_seen_at_once(tmp_path_factory):
    engine, cat = make(tmp_path_factory)
    rng = random.Random(1)
    ctx = context(now=NOW)
    before = engine.decide_shared(PAGE, ctx, cat, rng=rng).decisions["home-recs"].fill
    assert before is not None
    cat.observe([item("star", "hiking")])
    cat.stats = msgspec.structs.replace(cat.stats, popularity={**cat.stats.popularity, "star": 100.0})
    after = engine.decide_shared(PAGE, ctx, cat, rng=rng).decisions["home-recs"].fill
    assert after is not None and after[0].id == "star"


def test_another_page_object_is_never_served_anothers_decisions(tmp_path_factory):
    engine, cat = make(tmp_path_factory)
    rng = random.Random(1)
    ctx = context(now=NOW, device="mobile")
    engine.decide_shared(PAGE, ctx, cat, rng=rng)
    other = page(slot("promo", "variant", variants=("news",)))
    pd = engine.decide_shared(other, ctx, cat, rng=rng)
    assert set(pd.decisions) <= {"promo"}
    assert pd.decisions.get("promo") is None or pd.decisions["promo"].variant != "mobile"
    assert pd == engine.decide(other, None, ctx, cat, rng=random.Random(1)) or without_nonces(pd) == without_nonces(
        engine.decide(other, None, ctx, cat, rng=random.Random(1))
    )


def test_experiments_and_holdout_depend_on_the_visitor_so_nothing_is_shared(tmp_path_factory):
    experiment = CONFIG + '''
[[experiments]]
name = "tone"
slot = "promo"
arms = [ { name = "a", variant = "news" }, { name = "b", variant = "sale" } ]
'''
    holdout = CONFIG + '''
[holdout]
percent = 50
'''
    for text in (experiment, holdout):
        engine, cat = make(tmp_path_factory, text)
        outcomes = set()
        for i in range(40):
            ctx = context(now=NOW, vid=f"visitor-{i:014d}")
            shared = engine.decide_shared(PAGE, ctx, cat, rng=random.Random(i))
            fresh = engine.decide(PAGE, None, ctx, cat, rng=random.Random(i))
            assert shared == fresh  # bucketing by visitor id still applies
            outcomes.add((shared.holdout, tuple(sorted(shared.experiments.items()))))
        assert len(outcomes) > 1
