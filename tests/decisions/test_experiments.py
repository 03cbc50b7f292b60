"""Experiments: sticky hash bucketing, split weights, holdout, Thompson bandit, the report."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from proxy.decision_ids import make_id, parse_id
from proxy.decisions.config import Arm, Experiment, Holdout
from proxy.decisions.engine import DecisionEngine
from proxy.decisions.experiments import ArmStats, bucket, in_holdout, split_arm
from proxy.events import AddToCart, Click, Exposure, Purchase, PurchaseLine
from proxy.report import arm_stats, compute, format_report
from tests.decisions.helpers import NOW, catalog_of, context, decide, item, page, profile, settings_from, slot

PROMO = slot("promo", "variant", variants=("urgent", "calm"))
SPLIT = '''
[slots.promo]
default = "calm"

[[experiments]]
name = "tone"
slot = "promo"
goal = ["click"]
window_hours = 1
arms = [ { name = "calm", variant = "calm", weight = 3 }, { name = "urgent", variant = "urgent", weight = 1 } ]
'''


def test_bucket_is_stable_and_uniform() -> None:
    assert bucket("exp", "v1") == bucket("exp", "v1")
    assert bucket("exp", "v1") != bucket("other", "v1")
    values = [bucket("exp", f"v{i}") for i in range(10_000)]
    assert all(0 <= x < 1 for x in values)
    assert 0.48 < sum(values) / len(values) < 0.52


def test_split_close_to_weights_over_10k_visitors() -> None:
    exp = Experiment(name="tone", slot="promo", arms=(Arm(name="a", weight=3), Arm(name="b", weight=1)))
    counts = Counter(split_arm(exp, f"visitor-{i}").name for i in range(10_000))
    assert 0.73 < counts["a"] / 10_000 < 0.77
    assert all(split_arm(exp, f"visitor-{i}").name == split_arm(exp, f"visitor-{i}").name for i in range(100))


def test_same_visitor_same_arm_across_sessions(tmp_path: Path) -> None:
    s = settings_from(tmp_path, SPLIT)
    arms = {decide(s, page(PROMO), profile("vid-42"), seed=seed).experiments["tone"] for seed in range(20)}
    assert len(arms) == 1
    d = decide(s, page(PROMO), profile("vid-42")).decisions["promo"]
    ref = parse_id(d.id)
    assert ref.experiment == "tone" and ref.arm in ("calm", "urgent") and ref.variant == ref.arm
    assert f"arm={ref.arm}(split)" in d.reason


def test_sticky_record_beats_the_hash(tmp_path: Path) -> None:
    s = settings_from(tmp_path, SPLIT)
    for i in range(30):
        got = decide(s, page(PROMO), profile(f"v{i}", experiments={"tone": "urgent"}))
        assert got.decisions["promo"].variant == "urgent"


def test_visitor_without_profile_uses_context_vid(tmp_path: Path) -> None:
    s = settings_from(tmp_path, SPLIT)
    arms = Counter(decide(s, page(PROMO), None, context(vid=f"new-{i}")).experiments["tone"] for i in range(400))
    assert 0.65 < arms["calm"] / 400 < 0.85


def test_holdout_share_and_stability(tmp_path: Path) -> None:
    h = Holdout(percent=10)
    held = [in_holdout(h, f"v{i}") for i in range(10_000)]
    assert 0.09 < sum(held) / 10_000 < 0.11
    assert not in_holdout(Holdout(percent=0), "v1") and in_holdout(Holdout(percent=100), "v1")
    s = settings_from(tmp_path, SPLIT + "\n[holdout]\npercent = 100\n")
    got = decide(s, page(PROMO), profile("v1", affinities={"camping": 1.0}))
    assert got.holdout and got.decisions == {} and got.reasons == {"promo": "holdout"}
    preview = decide(s, page(PROMO), profile("v1"), context(preview=True))
    assert not preview.holdout and parse_id(preview.decisions["promo"].id).nonce.startswith("pv")


def test_origin_arm_marks_exposure_without_changes(tmp_path: Path) -> None:
    s = settings_from(tmp_path, '''
[slots.home-recs]
[[experiments]]
name = "recs"
slot = "home-recs"
arms = [ { name = "origin", strategy = "origin" }, { name = "personal" } ]
''')
    cat = catalog_of([item(f"i{i}", "camping") for i in range(10)], popularity={f"i{i}": i for i in range(10)})
    seen = {}
    for i in range(50):
        got = decide(s, page(slot("home-recs", "recommendations", limit=3)), profile(f"v{i}"), catalog=cat)
        d = got.decisions["home-recs"]
        seen[got.experiments["recs"]] = d
        assert parse_id(d.id).arm == got.experiments["recs"]
    assert seen["origin"].fill is None and seen["origin"].order is None
    assert len(seen["personal"].fill) == 3


BANDIT = '''
[slots.promo]
[[experiments]]
name = "tone"
slot = "promo"
mode = "bandit"
arms = [ { name = "calm", variant = "calm" }, { name = "urgent", variant = "urgent" } ]
'''


def test_bandit_converges_to_the_better_arm(tmp_path: Path) -> None:
    engine = DecisionEngine(settings_from(tmp_path, BANDIT))
    truth = {"calm": 0.05, "urgent": 0.25}
    world = random.Random(7)
    rng = random.Random(11)
    stats = {"calm": [0, 0], "urgent": [0, 0]}
    late = Counter()
    for i in range(2000):
        snapshot = {"tone": {a: ArmStats(n, c) for a, (n, c) in stats.items()}}
        got = engine.decide(page(PROMO), profile(f"v{i}"), context(now=NOW + i), catalog_of([]), rng=rng, arm_stats=snapshot)
        arm = got.experiments["tone"]
        stats[arm][0] += 1
        stats[arm][1] += world.random() < truth[arm]
        if i >= 1500:
            late[arm] += 1
    assert late["urgent"] / 500 > 0.85
    assert "bandit" in got.decisions["promo"].reason


def test_bandit_per_persona_reads_its_own_stats(tmp_path: Path) -> None:
    s = settings_from(tmp_path, '[[personas]]\nname = "camper"\nwhen = { affinity = "camping" }\n' + BANDIT.replace('mode = "bandit"', 'mode = "bandit"\nper_persona = true'))
    engine = DecisionEngine(s)
    stats = {
        "tone": {"calm": ArmStats(1000, 900), "urgent": ArmStats(1000, 10)},
        "tone@camper": {"calm": ArmStats(1000, 10), "urgent": ArmStats(1000, 900)},
    }
    rng = random.Random(3)
    camper = [engine.decide(page(PROMO), profile(f"c{i}", affinities={"camping": 1.0}), context(), catalog_of([]), rng=rng, arm_stats=stats).experiments["tone"] for i in range(50)]
    other = [engine.decide(page(PROMO), profile(f"o{i}"), context(), catalog_of([]), rng=rng, arm_stats=stats).experiments["tone"] for i in range(50)]
    assert set(camper) == {"urgent"} and set(other) == {"calm"}
    d = engine.decide(page(PROMO), profile("cz", affinities={"camping": 1.0}), context(), catalog_of([]), rng=rng, arm_stats=stats).decisions["promo"]
    assert parse_id(d.id).nonce.endswith("_camper")


def _exposure(arm: str, n: int, *, nonce: str = "abcd0001") -> Exposure:
    return Exposure(id=f"exposure{n:04d}", ts=0, slot="promo", decision=make_id(variant=arm, experiment="tone", arm=arm, nonce=nonce))


def test_report_counts_seen_exposures_and_attributed_conversions(tmp_path: Path) -> None:
    s = settings_from(tmp_path, SPLIT)
    events = []
    # calm: 100 visitors, 10 click in the slot within the hour, 5 click too late, 5 click elsewhere
    for i in range(100):
        vid = f"c{i}"
        events.append((vid, NOW, _exposure("calm", i)))
        events.append((vid, NOW + 5, _exposure("calm", i + 1000)))  # a second exposure counts once
        if i < 10:
            events.append((vid, NOW + 60, Click(id=f"click{i:05d}", ts=0, item="tent", slot="promo")))
        elif i < 15:
            events.append((vid, NOW + 7200, Click(id=f"click{i:05d}", ts=0, item="tent", slot="promo")))
        elif i < 20:
            events.append((vid, NOW + 60, Click(id=f"click{i:05d}", ts=0, item="tent", slot="home-recs")))
    # urgent: 100 visitors, 30 convert; a click before the exposure does not count
    for i in range(100):
        vid = f"u{i}"
        if i < 30:
            events.append((vid, NOW + 30, Click(id=f"clicku{i:04d}", ts=0, item="tent", slot="promo")))
        events.append((vid, NOW + 10, _exposure("urgent", i)))
        if i >= 95:
            events.append((vid, NOW - 50, Click(id=f"early{i:05d}", ts=0, item="tent", slot="promo")))
    events.append(("bot", NOW, _exposure("urgent", 9999)))
    events.append(("p1", NOW, _exposure("urgent", 9998, nonce="pvabcd01")))
    events.append(("x1", NOW, Exposure(id="exposurex1", ts=0, slot="promo", decision="d1.a.gone.b.n")))
    report = compute(events, s, is_excluded=lambda vid: vid == "bot")
    (exp,) = report.experiments
    calm, urgent = exp.arms
    assert (calm.exposures, calm.conversions, calm.control) == (100, 10, True)
    assert (urgent.exposures, urgent.conversions) == (100, 30)
    assert urgent.lift == pytest.approx(2.0)
    assert urgent.lift_low > 0.5 and urgent.lift_high < 3.5
    assert urgent.prob_best > 0.99 and calm.prob_best < 0.01
    assert report.excluded_events == 1 and report.unknown_exposures == 1
    assert arm_stats(report) == {"tone": {"calm": ArmStats(100, 10), "urgent": ArmStats(100, 30)}}
    text = format_report(report)
    assert "tone" in text and "+200.0%" in text and "calm *" in text


def test_report_goals_purchase_and_cart(tmp_path: Path) -> None:
    s = settings_from(tmp_path, SPLIT.replace('goal = ["click"]', 'goal = ["add_to_cart", "purchase"]'))
    events = [
        ("a", NOW, _exposure("calm", 1)),
        ("a", NOW + 10, AddToCart(id="cart00001", ts=0, item="tent")),
        ("b", NOW, _exposure("calm", 2)),
        ("b", NOW + 10, Purchase(id="purch0001", ts=0, items=(PurchaseLine(item="tent"),))),
        ("c", NOW, _exposure("calm", 3)),
        ("c", NOW + 10, Click(id="click0001", ts=0, item="tent", slot="promo")),
    ]
    calm = compute(events, s).experiments[0].arms[0]
    assert (calm.exposures, calm.conversions) == (3, 2)


def test_report_with_no_data_is_well_formed(tmp_path: Path) -> None:
    report = compute([], settings_from(tmp_path, SPLIT))
    assert report.experiments[0].arms[0].exposures == 0
    assert "tone" in format_report(report)
    import msgspec

    assert msgspec.json.decode(msgspec.json.encode(report))["experiments"][0]["name"] == "tone"


def test_per_persona_report_feeds_the_bandit(tmp_path: Path) -> None:
    s = settings_from(tmp_path, BANDIT.replace('mode = "bandit"', 'mode = "bandit"\nper_persona = true'))
    events = []
    for i in range(40):
        vid = f"v{i}"
        persona_nonce = "abcd0001_camper" if i < 20 else "abcd0002"
        arm = "urgent" if i % 2 else "calm"
        events.append((vid, NOW, _exposure(arm, i, nonce=persona_nonce)))
        if i < 20 and arm == "urgent":
            events.append((vid, NOW + 1, Click(id=f"click{i:05d}", ts=0, item="t", slot="promo")))
    report = compute(events, s)
    stats = arm_stats(report)
    assert stats["tone"] == {"calm": ArmStats(20, 0), "urgent": ArmStats(20, 10)}
    assert stats["tone@camper"] == {"calm": ArmStats(10, 0), "urgent": ArmStats(10, 10)}
    assert "persona camper" in format_report(report)


def test_repeated_slot_name_decides_the_first_only(tmp_path: Path) -> None:
    s = settings_from(tmp_path, SPLIT)
    got = decide(s, page(PROMO, PROMO), profile("v1"))
    assert list(got.decisions) == ["promo"]
