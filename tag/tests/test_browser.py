"""The built tag in real Chromium against a real server: every beacon must be
text/plain, under 60 KB, and decode as proxy.events.Beacon / Event."""

from __future__ import annotations

import time

import pytest

from proxy import events as ev
from tag.tests.conftest import Tab
from tag.tests.pages import HERO_DECISION, RECS_DECISION
from tag.tests.site import Site

pytestmark = pytest.mark.e2e


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def has(kind: type, n: int = 1, **fields: object):
    def predicate(events: list) -> bool:
        found = [e for e in of(events, kind) if all(getattr(e, k) == v for k, v in fields.items())]
        return len(found) >= n

    return predicate


def open_page(tab: Tab, site: Site, path: str, *, clock: bool = False, **goto: object) -> None:
    if clock:
        tab.page.clock.install()
    tab.page.goto(site.url(path), **goto)
    tab.page.wait_for_function("!!(window.tailor && window.tailor.flush)")


def flush(tab: Tab) -> None:
    tab.page.evaluate("tailor.flush()")


def test_page_view_fields_arrive_after_a_short_idle(tab: Tab, site: Site) -> None:
    before = time.time() * 1000
    open_page(tab, site, "/shop.html?utm_source=news&utm_medium=mail&x=1", referer="https://ref.example/from")
    events = site.wait_for(has(ev.PageView), timeout=5)  # no flush: the 2 s idle timer sends it
    (pv,) = of(events, ev.PageView)
    assert pv.url == "/shop.html?utm_source=news&utm_medium=mail&x=1"
    assert pv.referrer == "https://ref.example/from"
    assert pv.title == "Shop <Tent>"
    assert pv.utm == {"utm_source": "news", "utm_medium": "mail"}
    assert (pv.vw, pv.vh) == (1000, 700)
    assert pv.tzo == tab.page.evaluate("new Date().getTimezoneOffset()")
    assert pv.item == "tent-2p" and pv.tags == ("camping", "tents")
    assert pv.spa is False
    assert len(pv.id) >= 16 and before - 1000 <= pv.ts <= time.time() * 1000 + 1000
    assert {p.fetch_mode for p in site.posts} == {"cors"}  # a live page sends with fetch


def test_ids_are_unique_and_url_safe(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html")
    tab.page.evaluate("for (let i = 0; i < 30; i++) tailor.track('ping', {i})")
    flush(tab)
    events = site.wait_for(has(ev.Custom, 30))
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids) and all(len(i) >= 16 for i in ids)


def test_a_full_batch_goes_at_once_by_sendbeacon(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html", clock=True)  # the 2 s idle timer never fires
    tab.page.evaluate("for (let i = 0; i < 19; i++) tailor.track('ping', {i})")  # with the page view: 20
    events = site.wait_for(has(ev.Custom, 19))
    # One beacon of all 20 (a send at 19 would make a second post to wait for).
    assert len(events) == 20 and [p.fetch_mode for p in site.posts] == ["no-cors"]


def test_spa_navigation_reports_previous_page_then_new_view(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html")
    tab.page.evaluate("history.replaceState({}, '', location.href)")  # same URL: not a navigation
    tab.page.evaluate("history.pushState({}, '', '/shop.html?page=2')")
    tab.page.wait_for_function("1")  # let the deferred page view run
    tab.page.evaluate("history.back()")
    tab.page.wait_for_url("**/shop.html")
    events = site.wait_for(has(ev.PageView, 3), timeout=5)
    views = of(events, ev.PageView)
    assert [(v.url, v.spa) for v in views] == [("/shop.html", False), ("/shop.html?page=2", True), ("/shop.html", True)]
    assert views[1].referrer == site.url("/shop.html")
    engaged = of(events, ev.Engagement)
    assert [e.url for e in engaged] == ["/shop.html", "/shop.html?page=2"]
    assert engaged[0].item == "tent-2p" and engaged[0].ms > 0


def test_click_on_slot_item_carries_slot_and_decision(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html")
    tab.page.click("#tent-name")
    tab.page.click("#plain")  # not an item: no event
    flush(tab)
    events = site.wait_for(has(ev.Click))
    (click,) = of(events, ev.Click)
    assert (click.item, click.tags, click.slot, click.decision) == ("tent-2p", ("camping", "tents"), "hero", HERO_DECISION)
    assert click.url == "/shop.html"


def test_hover_needs_the_pointer_to_rest(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html", clock=True)
    page = tab.page
    page.hover("#stove-name")
    page.clock.run_for(300)
    page.hover("#plain")  # a quick pass over the stove: nothing
    page.clock.run_for(2000)
    page.hover("#tent-name")
    page.clock.run_for(900)
    flush(tab)
    events = site.wait_for(has(ev.Hover))
    hovers = of(events, ev.Hover)
    assert [(h.item, h.slot, h.decision) for h in hovers] == [("tent-2p", "hero", HERO_DECISION)]
    assert 800 <= hovers[0].ms < 1500


def test_hover_threshold_comes_from_the_script_element(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/custom.html", clock=True)  # data-hover="300"
    tab.page.hover("#stove-name")
    tab.page.clock.run_for(350)
    flush(tab)
    (hover,) = of(site.wait_for(has(ev.Hover)), ev.Hover)
    assert hover.item == "stove" and hover.tags == ("camping", "cooking")


def test_exposure_after_one_visible_second_and_not_offscreen(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html", clock=True)
    page = tab.page
    page.wait_for_function("document.querySelector('#hero').tailorTimer")  # observer saw it
    page.clock.run_for(900)
    flush(tab)
    page.clock.run_for(300)
    flush(tab)
    events = site.wait_for(has(ev.Exposure))
    (expo,) = of(events, ev.Exposure)
    assert (expo.slot, expo.decision, expo.items) == ("hero", HERO_DECISION, ("tent-2p", "stove"))
    page.clock.run_for(5000)  # recs stays below the fold: no exposure; hero: once per view
    flush(tab)
    page.evaluate("document.querySelector('#recs').scrollIntoView()")
    page.wait_for_function("document.querySelector('#recs').tailorTimer")
    page.clock.run_for(1100)
    flush(tab)
    events = site.wait_for(has(ev.Exposure, 2))
    assert [(e.slot, e.decision, e.items) for e in of(events, ev.Exposure)] == [
        ("hero", HERO_DECISION, ("tent-2p", "stove")),
        ("recs", RECS_DECISION, ("boots", "socks")),
    ]


def test_exposure_once_per_page_view_spa_ones_too(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html", clock=True)
    page = tab.page
    page.wait_for_function("document.querySelector('#hero').tailorTimer")
    page.clock.run_for(1100)
    page.clock.run_for(3000)  # still in view: no second exposure on this view
    page.evaluate("document.querySelector('#hero').tailorTimer = 0; history.pushState({}, '', '/shop.html?page=2')")
    page.clock.run_for(10)  # the deferred SPA page view observes the slots again
    page.wait_for_function("document.querySelector('#hero').tailorTimer")  # a new timer
    page.clock.run_for(1100)
    flush(tab)
    events = site.wait_for(has(ev.Exposure, 2))
    assert [(e.slot, e.url) for e in of(events, ev.Exposure)] == [("hero", "/shop.html"), ("hero", "/shop.html?page=2")]


def test_exposure_needs_a_continuous_second(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html", clock=True)
    page = tab.page
    page.evaluate("document.querySelector('#recs').scrollIntoView()")
    page.wait_for_function("document.querySelector('#recs').tailorTimer")
    page.clock.run_for(500)
    page.evaluate("scrollTo(0, 0)")  # recs leaves before its second is up
    page.wait_for_function("!document.querySelector('#recs').tailorTimer && document.querySelector('#hero').tailorTimer")
    page.clock.run_for(3000)
    flush(tab)
    events = site.wait_for(has(ev.Exposure))
    assert [e.slot for e in of(events, ev.Exposure)] == ["hero"]


def test_engagement_stops_while_hidden_and_uses_sendbeacon(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html", clock=True)
    page = tab.page
    page.clock.run_for(3000)
    page.evaluate("__setVisibility('hidden')")
    first = of(site.wait_for(has(ev.Engagement)), ev.Engagement)[0]
    page.clock.run_for(60_000)  # hidden a minute: not engaged
    page.evaluate("__setVisibility('visible')")
    page.evaluate("scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("scrollY > 0")
    page.clock.run_for(2000)
    page.evaluate("__setVisibility('hidden')")
    events = site.wait_for(has(ev.Engagement, 2))
    second = of(events, ev.Engagement)[1]
    assert 3000 <= first.ms < 3500 and first.scroll < 50
    assert 5000 <= second.ms < 5600 and second.scroll == 100
    assert (second.item, second.tags) == ("tent-2p", ("camping", "tents"))
    hiding = [p for p in site.posts if b'"engagement"' in p.body]
    assert [p.fetch_mode for p in hiding] == ["no-cors", "no-cors"]  # sendBeacon when the page hides


def test_navigation_sends_pending_events_with_sendbeacon(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html")
    tab.page.click("#tent-name")
    tab.page.click("#next")  # leave well before the idle timer
    tab.page.wait_for_url("**/other.html")
    events = site.wait_for(has(ev.Click))
    first_post = next(p for p in site.posts if b'"click"' in p.body)
    assert first_post.fetch_mode == "no-cors"
    assert {type(e) for e in events} >= {ev.PageView, ev.Click, ev.Engagement}


def test_search_from_url_and_form_once_each(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html?q=tent")
    tab.page.fill("#q", "boots")
    tab.page.click("#go")  # submits to /other.html?q=boots: one search, not two
    tab.page.wait_for_url("**/other.html?q=boots")
    tab.page.wait_for_function("!!(window.tailor && tailor.flush)")
    flush(tab)
    events = site.wait_for(has(ev.PageView, 2))
    assert [s.q for s in of(events, ev.Search)] == ["tent", "boots"]


def test_search_parameter_comes_from_the_script_element(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/custom.html?s=lamp&q=ignored")
    flush(tab)
    events = site.wait_for(has(ev.PageView))
    assert [s.q for s in of(events, ev.Search)] == ["lamp"]


def test_declarative_cart_events(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html")
    tab.page.click("#add")
    tab.page.click("#remove")
    tab.page.click("#buy-submit")  # form: qty from its input, navigates away
    tab.page.wait_for_url("**/other.html*")
    events = site.wait_for(lambda e: has(ev.AddToCart, 2)(e) and has(ev.RemoveFromCart)(e))
    adds = of(events, ev.AddToCart)
    assert [(a.item, a.tags, a.qty, a.price) for a in adds] == [
        ("tent-2p", ("camping", "tents"), 1, 59.9),
        ("lamp", ("lighting",), 3, 12.0),
    ]
    (removed,) = of(events, ev.RemoveFromCart)
    assert (removed.item, removed.qty) == ("stove", 2)


def test_purchase_fires_once_per_order(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/purchase.html")
    flush(tab)
    (purchase,) = of(site.wait_for(has(ev.Purchase)), ev.Purchase)
    assert purchase.order == "A1001" and purchase.revenue == 59.9
    assert purchase.items == (ev.PurchaseLine(item="tent-2p", qty=1, price=59.9),)
    tab.page.reload()
    tab.page.wait_for_function("!!(window.tailor && tailor.flush)")
    flush(tab)
    events = site.wait_for(has(ev.PageView, 2))
    # One purchase event; the same event may arrive twice (a fetch cut short by
    # the reload is retried on the next page with its id: the collector de-duplicates).
    assert len({p.id for p in of(events, ev.Purchase)}) == 1


def test_api_and_preload_queue(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/queue.html")
    tab.page.evaluate(
        """() => {
        tailor.track("add_to_cart", {item: "tent-2p", qty: 2, price: 59.9, tags: ["camping"]});
        tailor.track("purchase", {order: "Z9", revenue: 10, items: [{item: "socks", qty: 1, junk: 1}]});
        tailor.q.push(["track", "after_load", {ok: true}]);
        tailor.consent({analytics: true, personalization: true, bogus: 1});
        tailor.track("preference", {tone: "bold"});  // no built-in mapping: a custom event
        tailor.track();  // nonsense is ignored, never thrown
        tailor.prefer(null);
    }"""
    )
    flush(tab)
    events = site.wait_for(has(ev.Consent))
    custom = of(events, ev.Custom)
    assert [(c.name, c.props) for c in custom] == [
        ("signup", {"plan": "pro", "seats": 3, "trial": True}),
        ("after_load", {"ok": True}),
        ("preference", {"tone": "bold"}),
    ]
    prefs = [p.prefs for p in of(events, ev.Preference)]
    assert prefs == [{"tone": "calm", "tags": ("camping", "hiking"), "budget": 100}, {}]
    (add,) = of(events, ev.AddToCart)
    assert (add.item, add.qty, add.price, add.tags) == ("tent-2p", 2, 59.9, ("camping",))
    (purchase,) = of(events, ev.Purchase)
    assert purchase.items == (ev.PurchaseLine(item="socks", qty=1),)
    (consent,) = of(events, ev.Consent)
    assert (consent.analytics, consent.personalization) == (True, True)


def test_global_privacy_control_sends_only_consent(tab: Tab, site: Site) -> None:
    tab.page.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    open_page(tab, site, "/shop.html?q=tent")
    tab.page.click("#tent-name")
    tab.page.evaluate("tailor.track('x'); tailor.consent({personalization: true})")
    flush(tab)
    events = site.wait_for(has(ev.Consent))
    tab.page.click("#next")
    tab.page.wait_for_url("**/other.html")
    tab.page.wait_for_function("!!(window.tailor && tailor.flush)")
    flush(tab)
    assert [type(e) for e in site.events()] == [ev.Consent]
    assert events[0].personalization is True


def test_opt_in_sends_nothing_until_consent_and_remembers_it(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/optin.html")
    tab.page.click("#tent-name")
    flush(tab)
    tab.page.evaluate("tailor.consent({personalization: true})")
    tab.page.click("#stove-name")
    flush(tab)
    events = site.wait_for(has(ev.Click))
    assert [type(e) for e in events] == [ev.Consent, ev.Click]
    assert events[1].item == "stove"
    tab.page.reload()
    tab.page.wait_for_function("!!(window.tailor && tailor.flush)")
    flush(tab)
    assert of(site.wait_for(has(ev.PageView)), ev.PageView)[0].url == "/optin.html"


def test_implied_consent_withdrawn_drops_pending_events(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html")
    tab.page.click("#tent-name")
    tab.page.evaluate("tailor.consent({personalization: false})")
    tab.page.click("#stove-name")
    flush(tab)
    events = site.wait_for(has(ev.Consent))
    assert [type(e) for e in events] == [ev.Consent]
    assert events[0].personalization is False


def test_failed_sends_are_retried_on_the_next_page(tab: Tab, site: Site) -> None:
    tab.expect_console_errors = True  # Chromium logs the 503
    site.fail_next = 1
    open_page(tab, site, "/shop.html")
    tab.page.click("#tent-name")
    flush(tab)
    tab.page.wait_for_function("localStorage.tailor_r && JSON.parse(localStorage.tailor_r).length >= 2")
    failed = site.posts[0]
    assert failed.status == 503
    tab.page.goto(site.url("/other.html"))
    tab.page.wait_for_function("!!(window.tailor && tailor.flush)")
    flush(tab)
    events = site.wait_for(has(ev.Click))
    lost_ids = {e.id for e in ev_decode(failed.body)}
    assert lost_ids <= {e.id for e in events}
    assert tab.page.evaluate("JSON.parse(localStorage.tailor_r)") == []


def ev_decode(body: bytes) -> list:
    import msgspec

    return [msgspec.json.decode(r, type=ev.Event) for r in msgspec.json.decode(body, type=ev.Beacon).events]


def test_large_batches_split_under_60kb(tab: Tab, site: Site) -> None:
    open_page(tab, site, "/shop.html")
    tab.page.evaluate(
        """() => {
        const props = {};
        for (let i = 0; i < 32; i++) props["k" + i] = "é".repeat(256);  // the collector's limits, 2 bytes a char
        for (let i = 0; i < 19; i++) tailor.track("big", props);
    }"""
    )
    flush(tab)
    events = site.wait_for(has(ev.Custom, 19))
    assert len(site.posts) >= 3  # (decode_post checked each is under 60 KB)
    big = of(events, ev.Custom)[0]
    assert len(big.props) == 32 and all(len(v) == 256 for v in big.props.values())


def test_over_limit_props_are_sent_and_only_that_event_is_rejected(tab: Tab, site: Site) -> None:
    # The tag does not clamp API props (the collector validates every field and
    # rejects a bad event alone): the event still goes, its neighbours count.
    site.invalid = []
    open_page(tab, site, "/shop.html")
    tab.page.evaluate(
        """() => {
        const props = {};
        for (let i = 0; i < 40; i++) props["k" + i] = "é".repeat(300);
        tailor.track("before", {});
        tailor.track("big", props);
        tailor.track("after", {});
    }"""
    )
    flush(tab)
    events = site.wait_for(lambda e: has(ev.Custom, 2)(e) and bool(site.invalid))
    assert [c.name for c in of(events, ev.Custom)] == ["before", "after"]
    (bad,) = site.invalid
    assert b'"name":"big"' in bad and bad.count(b'"k') == 40


def test_broken_markup_and_storage_never_break_the_page(tab: Tab, site: Site) -> None:
    tab.page.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() { throw new DOMException('denied', 'SecurityError'); }})"
    )
    open_page(tab, site, "/broken.html")
    tab.page.click("text=empty id")
    flush(tab)
    events = site.wait_for(has(ev.PageView))
    assert not of(events, ev.Purchase)
