"""Experiment arms and the holdout: stable hash bucketing and Thompson sampling.

Rule: a visitor's bucket is a pure function of (salt, visitor id), so the
same visitor gets the same arm on every server and in every session without
any state. Bandits draw from Beta posteriors with the injected `rng`; once a
visitor has seen an arm (`profile.experiments`), they keep it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

import msgspec

from proxy.decisions.config import Arm, Experiment, Holdout


class ArmStats(msgspec.Struct, frozen=True):
    """Counted exposures (visitors) and conversions of one arm."""

    exposures: int = 0
    conversions: int = 0


def bucket(salt: str, vid: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, vid)."""
    digest = hashlib.blake2b(f"{salt}\x00{vid}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def in_holdout(holdout: Holdout, vid: str | None) -> bool:
    if vid is None or holdout.percent <= 0:
        return False
    return bucket(holdout.salt, vid) * 100.0 < holdout.percent


def split_arm(experiment: Experiment, vid: str) -> Arm:
    total = sum(a.weight for a in experiment.arms)
    point = bucket(experiment.name, vid) * total
    acc = 0.0
    for arm in experiment.arms:
        acc += arm.weight
        if point < acc:
            return arm
    return experiment.arms[-1]


def thompson_arm(experiment: Experiment, stats: Mapping[str, ArmStats] | None, rng: random.Random) -> Arm:
    best: Arm | None = None
    best_draw = -1.0
    for arm in experiment.arms:
        s = stats.get(arm.name) if stats else None
        n, c = (s.exposures, s.conversions) if s else (0, 0)
        c = min(max(c, 0), max(n, 0))
        draw = rng.betavariate(1.0 + c, 1.0 + n - c)
        if draw > best_draw:
            best, best_draw = arm, draw
    assert best is not None
    return best


def stats_key(experiment: str, persona: str | None) -> str:
    """Key of per-persona bandit statistics in `arm_stats` (see proxy.report.arm_stats)."""
    return f"{experiment}@{persona}" if persona else experiment


def choose_arm(
    experiment: Experiment,
    *,
    vid: str | None,
    seen: Mapping[str, str],
    persona: str | None,
    arm_stats: Mapping[str, Mapping[str, ArmStats]] | None,
    rng: random.Random,
    forced: str | None = None,
) -> tuple[Arm, str]:
    """(arm, why) for this visitor."""
    by_name = {a.name: a for a in experiment.arms}
    if forced is not None and forced in by_name:
        return by_name[forced], "forced"
    previous = seen.get(experiment.name)
    if previous is not None and previous in by_name:
        return by_name[previous], "sticky"
    if experiment.mode == "bandit":
        stats = None
        if arm_stats:
            if experiment.per_persona and persona:
                stats = arm_stats.get(stats_key(experiment.name, persona))
            if stats is None:
                stats = arm_stats.get(experiment.name)
        return thompson_arm(experiment, stats, rng), "bandit"
    if vid is None:  # no identity to hash: the control keeps results clean
        return control_arm(experiment), "no-id"
    return split_arm(experiment, vid), "split"


def control_arm(experiment: Experiment) -> Arm:
    if experiment.control is not None:
        for arm in experiment.arms:
            if arm.name == experiment.control:
                return arm
    return experiment.arms[0]
