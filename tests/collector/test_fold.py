"""profile_fold: each event kind, decay, sessions, caps, consent and GPC."""

from __future__ import annotations

import pytest

from proxy import events as ev
from proxy.clock import FakeClock
from proxy.decision_ids import make_id
from proxy.profile_fold import (
    MAX_EXPOSURE_KEYS,
    MAX_ITEMS,
    MAX_RECENT,
    MAX_SEARCHES,
    MAX_TAGS,
    W_CART,
    W_CLICK,
    W_HOVER,
    W_PAGE_VIEW,
    W_PURCHASE,
    decayed,
    fold,
    merge,
)
from proxy.profile_model import Profile
from proxy.settings import ProfileSettings

SETTINGS = ProfileSettings(half_life_days=14.0, session_timeout_minutes=30.0)
DAY = 86_400.0
_ids = iter(range(10**9))


def nid() -> str:
    return f"evt{next(_ids):08d}"


class Visitor:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.profile = Profile(vid="v1")

    def send(self, event: ev.Event, gpc: bool = False) -> Profile:
        return fold(self.profile, event, now=self.clock.time(), settings=SETTINGS, gpc=gpc)


def view(item: str | None = None, tags: tuple[str, ...] = (), **kw: object) -> ev.PageView:
    return ev.PageView(id=nid(), ts=1, item=item, tags=tags, **kw)  # type: ignore[arg-type]


def test_page_view_counts_session_and_interests() -> None:
    v = Visitor()
    p = v.send(view("boot-1", ("hiking", "boots"), tzo=-60, referrer="https://news.example/", utm={"source": "mail"}))
    assert p.counters.page_views == 1 and p.counters.visits == 1 and p.counters.sessions == 1
    assert p.affinities["hiking"].value == W_PAGE_VIEW and p.item_affinities["boot-1"].value == W_PAGE_VIEW
    assert p.session.number == 1 and p.session.viewed == {"boot-1": 1} and p.session.affinities == {"hiking": 1.0, "boots": 1.0}
    assert p.session.landing_referrer == "https://news.example/" and p.session.utm == {"source": "mail"}
    assert p.tz_offset == -60 and p.created == v.clock.time() and p.version == 1
    assert p.recent[-1].type == "page_view" and p.recent[-1].item == "boot-1"


def test_weights_of_click_hover_cart_purchase() -> None:
    v = Visitor()
    v.send(ev.Click(id=nid(), ts=1, item="a", tags=("t",)))
    v.send(ev.Hover(id=nid(), ts=1, item="a", tags=("t",), ms=900))
    v.send(ev.AddToCart(id=nid(), ts=1, item="a", tags=("t",), qty=2, price=10))
    p = v.send(ev.Purchase(id=nid(), ts=1, items=(ev.PurchaseLine(item="a", qty=2, price=10, tags=("t",)),)))
    assert p.affinities["t"].value == pytest.approx(W_CLICK + W_HOVER + W_CART + W_PURCHASE)
    assert p.counters.clicks == 1 and p.counters.add_to_carts == 1 and p.counters.purchases == 1
    assert p.counters.revenue == 20.0 and p.purchases == {"a": [v.clock.time()]}
    assert p.session.cart == {}  # bought


def test_cart_add_and_remove() -> None:
    v = Visitor()
    v.send(ev.AddToCart(id=nid(), ts=1, item="a", qty=3))
    p = v.send(ev.RemoveFromCart(id=nid(), ts=1, item="a", qty=1))
    assert p.session.cart == {"a": 2}
    p = v.send(ev.RemoveFromCart(id=nid(), ts=1, item="a", qty=5))
    assert p.session.cart == {}


def test_engagement_counts_only_new_time() -> None:
    v = Visitor()
    v.send(ev.Engagement(id=nid(), ts=1, url="/p/1", ms=60_000, tags=("t",)))
    p = v.send(ev.Engagement(id=nid(), ts=2, url="/p/1", ms=90_000, tags=("t",)))
    assert p.counters.engaged_ms == 90_000
    assert p.affinities["t"].value == pytest.approx(1.5)  # 1.0 per engaged minute
    p = v.send(ev.Engagement(id=nid(), ts=3, url="/p/1", ms=80_000, tags=("t",)))  # stale report
    assert p.counters.engaged_ms == 90_000


def test_affinity_decays_with_half_life() -> None:
    v = Visitor()
    v.send(view(tags=("hiking",)))
    v.clock.tick(14 * DAY)
    assert decayed(v.profile.affinities["hiking"], v.clock.time(), SETTINGS.half_life_days) == pytest.approx(0.5)
    p = v.send(view(tags=("hiking",)))
    assert p.affinities["hiking"].value == pytest.approx(1.5) and p.affinities["hiking"].ts == v.clock.time()


def test_session_rolls_over_after_30_minutes_idle() -> None:
    v = Visitor()
    v.send(view(tags=("a",)))
    v.clock.tick(29 * 60)
    p = v.send(view(tags=("a",)))
    assert p.session.number == 1 and p.session.page_views == 2 and p.session.affinities == {"a": 2.0}
    v.clock.tick(30 * 60 + 1)
    p = v.send(view(tags=("b",)))
    assert p.session.number == 2 and p.session.page_views == 1 and p.session.affinities == {"b": 1.0}
    assert p.counters.sessions == 2 and p.counters.visits == 2 and p.counters.page_views == 3
    assert p.affinities["a"].value > 1.9  # history keeps what the session forgot


def test_exposure_and_click_decision_ids() -> None:
    v = Visitor()
    v.send(ev.Exposure(id=nid(), ts=1, slot="hero", decision=make_id(variant="calm", experiment="exp1", arm="B", nonce="n1")))
    v.clock.tick(5)
    p = v.send(ev.Exposure(id=nid(), ts=1, slot="hero", decision=make_id(variant="calm", nonce="n2")))
    assert p.exposures == {"hero:calm": [v.clock.time() - 5, v.clock.time()]}
    assert p.experiments == {"exp1": "B"}
    p = v.send(ev.Exposure(id=nid(), ts=1, slot="hero", decision="not-ours"))
    assert len(p.exposures["hero:calm"]) == 2
    p = v.send(ev.Click(id=nid(), ts=1, item="x", decision=make_id(experiment="exp2", arm="A")))
    assert p.experiments == {"exp1": "B", "exp2": "A"}


def test_search_preference_custom() -> None:
    v = Visitor()
    v.send(ev.Search(id=nid(), ts=1, q="  rain   jacket "))
    v.send(ev.Preference(id=nid(), ts=1, prefs={"tone": "calm", "tags": ("camping",)}))
    p = v.send(ev.Custom(id=nid(), ts=1, name="newsletter", props={"ok": True}))
    assert p.session.searches == ["rain jacket"] and p.prefs == {"tone": "calm", "tags": ["camping"]}
    assert p.recent[-1].type == "custom:newsletter"


def test_caps_bound_the_profile() -> None:
    v = Visitor()
    for i in range(MAX_TAGS + 50):
        v.send(view(f"item-{i}", (f"tag-{i}",)))
    for i in range(MAX_SEARCHES + 10):
        v.send(ev.Search(id=nid(), ts=1, q=f"q{i}"))
    for i in range(MAX_EXPOSURE_KEYS + 10):
        v.send(ev.Exposure(id=nid(), ts=1, slot=f"s{i}", decision=make_id(variant="v")))
    p = v.profile
    assert len(p.affinities) == MAX_TAGS and len(p.item_affinities) == MAX_ITEMS
    assert len(p.session.searches) == MAX_SEARCHES and p.session.searches[-1] == f"q{MAX_SEARCHES + 9}"
    assert len(p.recent) == MAX_RECENT and len(p.exposures) == MAX_EXPOSURE_KEYS
    assert len(p.session.viewed) <= 100


def test_gpc_keeps_only_consent() -> None:
    v = Visitor()
    v.send(view("a", ("t",)))
    p = v.send(view("b", ("u",)), gpc=True)
    assert p.gpc and p.affinities == {} and p.counters.page_views == 0 and p.recent == []
    p = v.send(ev.Consent(id=nid(), ts=1, analytics=True), gpc=True)
    assert p.consent == {"analytics": True} and p.affinities == {}


def test_consent_withdrawn_wipes_and_stops_learning() -> None:
    v = Visitor()
    v.send(view("a", ("t",)))
    p = v.send(ev.Consent(id=nid(), ts=1, personalization=False))
    assert p.affinities == {} and p.consent == {"personalization": False}
    p = v.send(view("b", ("u",)))
    assert p.affinities == {} and p.counters.page_views == 0
    p = v.send(ev.Consent(id=nid(), ts=1, personalization=True))
    p = v.send(view("b", ("u",)))
    assert p.affinities["u"].value == 1.0


def test_merge_two_devices() -> None:
    phone, laptop = Visitor(), Visitor()
    phone.send(view("a", ("t",)))
    phone.send(ev.Purchase(id=nid(), ts=1, items=(ev.PurchaseLine(item="a", price=5),)))
    laptop.send(view("b", ("t", "u")))
    merged = merge(laptop.profile, phone.profile, now=laptop.clock.time(), settings=SETTINGS)
    assert merged.affinities["t"].value == pytest.approx(2.0) and merged.affinities["u"].value == 1.0
    assert merged.item_affinities["a"].value == pytest.approx(1 + W_PURCHASE)
    assert merged.counters.page_views == 2 and merged.counters.purchases == 1 and "a" in merged.purchases
