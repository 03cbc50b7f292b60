"""Conditions, personas and segments evaluated against real profiles and contexts."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.profile_model import Counters, Score, Session
from tests.decisions.helpers import NOW, context, decide, page, profile, recent, settings_from

SEGMENTS = '''
[[personas]]
name = "camper"
when = { affinity = "camping", above = 0.5 }

[[personas]]
name = "runner"
when = { affinity = "running", above = 0.5 }

[[segments]]
name = "mobile-evening"
when = { all = [ { device = "mobile" }, { hour = [18, 23] } ] }

[[segments]]
name = "night-owl"
when = { hour = [22, 5] }

[[segments]]
name = "weekend"
when = { weekday = [5, 6] }

[[segments]]
name = "cross"
when = { interests_above = 0.4, at_least = 2 }

[[segments]]
name = "single"
when = { all = [ { interests_above = 0.4, at_least = 1 }, { interests_above = 0.4, at_most = 1 } ] }

[[segments]]
name = "buyer"
when = { counter = "purchases", at_least = 1 }

[[segments]]
name = "never-buys"
when = { all = [ { counter = "page_views", at_least = 10 }, { not = { segment = "buyer" } } ] }

[[segments]]
name = "recent-buyer"
when = { since = "last_purchase", within_days = 7 }

[[segments]]
name = "newsletter"
when = { utm_source = ["newsletter", "mail"] }

[[segments]]
name = "from-search"
when = { referrer = "google.com" }

[[segments]]
name = "calm"
when = { pref = "tone", equals = "calm" }

[[segments]]
name = "kids"
when = { pref = "tags", contains = "kids" }

[[segments]]
name = "new"
when = { new_visitor = true }

[[segments]]
name = "camper-seg"
when = { persona = "camper" }

[[segments]]
name = "de"
when = { country = ["DE", "AT"] }

[[segments]]
name = "session-runner"
when = { session_affinity = "running", above = 0.5 }

[[segments]]
name = "low-sale"
when = { affinity = "sale", below = 0.2 }
'''


@pytest.fixture
def settings(tmp_path: Path):  # noqa: ANN201
    return settings_from(tmp_path, SEGMENTS)


def segs(settings, prof, **ctx):  # noqa: ANN001, ANN003, ANN201
    return decide(settings, page(), prof, context(**ctx))


def test_first_matching_persona_in_order(settings) -> None:  # noqa: ANN001
    both = profile(affinities={"camping": 10.0, "running": 9.0})
    assert segs(settings, both).persona == "camper"
    runner = profile(affinities={"camping": 1.0, "running": 9.0})
    assert segs(settings, runner).persona == "runner"
    assert segs(settings, profile()).persona is None
    assert segs(settings, None).persona is None


def test_persona_by_highest_score(tmp_path: Path) -> None:
    s = settings_from(tmp_path, '''
[[personas]]
name = "camper"
score = { camping = 1.0 }
[[personas]]
name = "runner"
score = { running = 1.0, cycling = 0.5 }
''')
    assert decide(s, page(), profile(affinities={"camping": 5.0, "running": 4.0, "cycling": 4.0})).persona == "runner"
    assert decide(s, page(), profile(affinities={"camping": 5.0, "running": 1.0})).persona == "camper"


def test_forced_persona_wins_if_known(settings) -> None:  # noqa: ANN001
    assert segs(settings, profile(affinities={"camping": 1.0}), forced_persona="runner").persona == "runner"
    assert segs(settings, profile(affinities={"camping": 1.0}), forced_persona="ghost").persona == "camper"


def test_device_and_hour(settings) -> None:  # noqa: ANN001
    assert "mobile-evening" in segs(settings, None, device="mobile", local_hour=20).segments
    assert "mobile-evening" not in segs(settings, None, device="desktop", local_hour=20).segments
    assert "mobile-evening" not in segs(settings, None, device="mobile", local_hour=17).segments


@pytest.mark.parametrize(("hour", "expected"), [(21, False), (22, True), (0, True), (5, True), (6, False)])
def test_hour_range_wraps_midnight(settings, hour: int, expected: bool) -> None:  # noqa: ANN001
    assert ("night-owl" in segs(settings, None, local_hour=hour).segments) is expected


def test_weekday(settings) -> None:  # noqa: ANN001
    assert "weekend" in segs(settings, None, weekday=6).segments
    assert "weekend" not in segs(settings, None, weekday=0).segments


def test_single_versus_cross_category(settings) -> None:  # noqa: ANN001
    one = segs(settings, profile(affinities={"camping": 10.0, "running": 1.0})).segments
    assert "single" in one and "cross" not in one
    two = segs(settings, profile(affinities={"camping": 10.0, "running": 6.0})).segments
    assert "cross" in two and "single" not in two


def test_affinity_decays_with_half_life(settings) -> None:  # noqa: ANN001
    # camping was strong 60 days ago (4+ half-lives of 14 days), running is fresh
    prof = profile()
    prof.affinities = {"camping": Score(10.0, NOW - 60 * 86400), "running": Score(2.0, NOW)}
    assert segs(settings, prof).persona == "runner"


def test_counters_and_negation_via_segment(settings) -> None:  # noqa: ANN001
    browser = profile(counters=Counters(page_views=12))
    assert "never-buys" in segs(settings, browser).segments
    buyer = profile(counters=Counters(page_views=12, purchases=1))
    got = segs(settings, buyer).segments
    assert "buyer" in got and "never-buys" not in got


def test_recency(settings) -> None:  # noqa: ANN001
    assert "recent-buyer" in segs(settings, profile(purchases={"tent": [NOW - 2 * 86400]})).segments
    assert "recent-buyer" not in segs(settings, profile(purchases={"tent": [NOW - 20 * 86400]})).segments
    assert "recent-buyer" not in segs(settings, profile()).segments


def test_utm_from_request_or_session(settings) -> None:  # noqa: ANN001
    assert "newsletter" in segs(settings, None, utm_source="Newsletter").segments
    landed = profile(session=Session(number=1, started=NOW - 60, last_seen=NOW - 5, utm={"source": "mail"}))
    assert "newsletter" in segs(settings, landed).segments
    assert "newsletter" not in segs(settings, profile()).segments


def test_referrer_subdomains(settings) -> None:  # noqa: ANN001
    assert "from-search" in segs(settings, None, referrer_domain="news.google.com").segments
    assert "from-search" in segs(settings, None, referrer_domain="google.com").segments
    assert "from-search" not in segs(settings, None, referrer_domain="notgoogle.com").segments


def test_preferences(settings) -> None:  # noqa: ANN001
    got = segs(settings, profile(prefs={"tone": "Calm", "tags": ["kids", "camping"]})).segments
    assert "calm" in got and "kids" in got
    got = segs(settings, profile(prefs={"tone": "urgent", "tags": "running"})).segments
    assert "calm" not in got and "kids" not in got


def test_new_visitor_and_persona_reference(settings) -> None:  # noqa: ANN001
    assert "new" in segs(settings, None, returning=False).segments
    assert "new" not in segs(settings, profile(), returning=True).segments
    assert "camper-seg" in segs(settings, profile(affinities={"camping": 1.0})).segments


def test_country(settings) -> None:  # noqa: ANN001
    assert "de" in segs(settings, None, country="AT").segments
    assert "de" not in segs(settings, None, country=None).segments


def test_session_affinity_ignores_a_timed_out_session(settings) -> None:  # noqa: ANN001
    live = profile(session=Session(number=2, started=NOW - 100, last_seen=NOW - 5, affinities={"running": 3.0, "camping": 1.0}))
    assert "session-runner" in segs(settings, live).segments
    stale = profile(session=Session(number=2, started=NOW - 9000, last_seen=NOW - 4000, affinities={"running": 3.0}))
    assert "session-runner" not in segs(settings, stale).segments


def test_below_includes_no_interest(settings) -> None:  # noqa: ANN001
    assert "low-sale" in segs(settings, profile(affinities={"camping": 1.0})).segments
    assert "low-sale" not in segs(settings, profile(affinities={"camping": 1.0, "sale": 0.5})).segments


def test_odd_profile_data_does_not_raise(settings) -> None:  # noqa: ANN001
    odd = profile(affinities={"camping": -3.0, "running": 0.0}, prefs={"tone": 3.0, "tags": True}, recent=[recent("purchase")])
    got = segs(settings, odd)
    assert got.persona is None and "recent-buyer" in got.segments


def test_referrer_from_the_session_landing_url(settings) -> None:  # noqa: ANN001
    landed = profile(session=Session(number=1, started=NOW - 60, last_seen=NOW - 5, landing_referrer="https://www.google.com/search?q=tent"))
    assert "from-search" in segs(settings, landed).segments
    odd = profile(session=Session(number=1, started=NOW - 60, last_seen=NOW - 5, landing_referrer="http://[::1"))
    assert "from-search" not in segs(settings, odd).segments
