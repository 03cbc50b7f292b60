"""Cached profiles stay cheap for the garbage collector: score dicts are untracked."""

import gc

import msgspec

from proxy import events as ev
from proxy.profile_fold import fold
from proxy.profile_model import Profile, RecentEvent, Score
from proxy.settings import settings_from_dict


def test_scores_and_recent_events_are_not_gc_types() -> None:
    assert not gc.is_tracked(Score(1.0, 2.0))
    assert not gc.is_tracked(RecentEvent("page_view", 1.0, "item", 1))
    assert not gc.is_tracked({"a": Score(1.0, 2.0)})  # a dict of them stays untracked too


def test_folded_and_decoded_profiles_have_untracked_affinity_dicts() -> None:
    settings = settings_from_dict({}).profiles
    profile = Profile(vid="v")
    for n in range(50):
        event = ev.PageView(id=str(n), ts=1.7e12 + n, url=f"/p/{n}", item=f"item-{n}", tags=(f"t{n % 7}", "shoes"))
        fold(profile, event, now=1.7e9 + n, settings=settings)
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(profile), type=Profile)
    for each in (profile, decoded):
        assert each.affinities and each.item_affinities
        assert not gc.is_tracked(each.affinities)
        assert not gc.is_tracked(each.item_affinities)
    assert decoded == profile
