"""Experiment reports: exposures, conversions, lift and probability of being best, per arm.

Rule: an exposure counts only when the tag saw the slot (an `exposure`
event whose decision id names the experiment and arm, see
proxy.decision_ids); each visitor counts once per experiment, from their
first exposure. A conversion is a goal event (click in the slot, add to cart,
purchase) by the same visitor within the experiment's attribution window
after that exposure. Forced-preview exposures (nonce "pv...") are skipped.

The caller filters the rest: pass `is_excluded(vid)` returning True for bots,
forced-preview visitors and visitors without analytics consent (the journal
holds events only, not who they came from).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

import msgspec

from proxy.decision_ids import parse_id
from proxy.decisions.config import Experiment
from proxy.decisions.experiments import ArmStats, stats_key
from proxy.events import AddToCart, Click, Event, Exposure, Purchase
from proxy.settings import Settings

Z95 = 1.959963984540054
DRAWS = 10_000


class ArmReport(msgspec.Struct, frozen=True):
    arm: str
    exposures: int
    conversions: int
    rate: float
    control: bool = False
    lift: float | None = None  # relative to the control's rate
    lift_low: float | None = None  # 95% interval (normal approximation)
    lift_high: float | None = None
    prob_best: float = 0.0  # Monte Carlo over Beta(1 + conversions, 1 + failures)


class ExperimentReport(msgspec.Struct, frozen=True):
    name: str
    slot: str
    mode: str
    goal: tuple[str, ...]
    window_hours: float
    arms: tuple[ArmReport, ...]
    persona: str | None = None  # set on per-persona breakdowns


class Report(msgspec.Struct, frozen=True):
    experiments: tuple[ExperimentReport, ...] = ()
    by_persona: tuple[ExperimentReport, ...] = ()  # bandits with per_persona = true
    events: int = 0
    excluded_events: int = 0
    unknown_exposures: int = 0  # exposure ids naming no configured experiment/arm


def compute(
    events: Iterable[tuple[str, float, Event]],
    settings: Settings,
    *,
    is_excluded: Callable[[str], bool] | None = None,
    seed: int = 0,
    draws: int = DRAWS,
) -> Report:
    """`events` are (visitor id, receive time in epoch seconds, event), in any order."""
    experiments = {e.name: e for e in settings.experiments}
    arms = {e.name: {a.name for a in e.arms} for e in settings.experiments}
    first: dict[tuple[str, str], tuple[float, str, str | None]] = {}  # (exp, vid) -> (ts, arm, persona)
    goals: dict[str, list[tuple[float, str, str | None]]] = {}  # vid -> (ts, goal, slot)
    count = excluded = unknown = 0
    excluded_cache: dict[str, bool] = {}
    for vid, ts, event in events:
        count += 1
        if is_excluded is not None:
            skip = excluded_cache.get(vid)
            if skip is None:
                skip = excluded_cache[vid] = bool(is_excluded(vid))
            if skip:
                excluded += 1
                continue
        if isinstance(event, Exposure):
            ref = parse_id(event.decision)
            if ref is None or ref.experiment is None:
                continue
            if ref.experiment not in experiments or ref.arm not in arms[ref.experiment]:
                unknown += 1
                continue
            if ref.nonce.startswith("pv"):
                continue
            persona = ref.nonce.partition("_")[2] or None
            key = (ref.experiment, vid)
            seen = first.get(key)
            if seen is None or ts < seen[0]:
                first[key] = (ts, ref.arm, persona)  # type: ignore[assignment]
        elif isinstance(event, Click):
            goals.setdefault(vid, []).append((ts, "click", event.slot))
        elif isinstance(event, AddToCart):
            goals.setdefault(vid, []).append((ts, "add_to_cart", None))
        elif isinstance(event, Purchase):
            goals.setdefault(vid, []).append((ts, "purchase", None))

    tallies: dict[str, dict[str, list[int]]] = {}
    persona_tallies: dict[tuple[str, str], dict[str, list[int]]] = {}
    for (name, vid), (ts, arm, persona) in first.items():
        exp = experiments[name]
        window = exp.window_hours * 3600.0
        wanted = set(exp.goal)
        converted = any(
            ts <= t <= ts + window and g in wanted and (g != "click" or slot == exp.slot)
            for t, g, slot in goals.get(vid, ())
        )
        for table in (
            tallies.setdefault(name, {}),
            persona_tallies.setdefault((name, persona), {}) if exp.per_persona and persona else None,
        ):
            if table is None:
                continue
            row = table.setdefault(arm, [0, 0])
            row[0] += 1
            row[1] += int(converted)

    rng = random.Random(seed)
    reports = tuple(
        _experiment_report(exp, tallies.get(exp.name, {}), rng, draws) for exp in settings.experiments
    )
    by_persona = tuple(
        _experiment_report(experiments[name], table, rng, draws, persona=persona)
        for (name, persona), table in sorted(persona_tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        if persona
    )
    return Report(experiments=reports, by_persona=by_persona, events=count, excluded_events=excluded, unknown_exposures=unknown)


def _experiment_report(
    exp: Experiment, table: dict[str, list[int]], rng: random.Random, draws: int, *, persona: str | None = None
) -> ExperimentReport:
    control = exp.control or exp.arms[0].name
    counts = {a.name: table.get(a.name, [0, 0]) for a in exp.arms}
    nc, cc = counts[control]
    pc = cc / nc if nc else 0.0
    best = prob_best({name: (n, c) for name, (n, c) in counts.items()}, rng, draws)
    rows = []
    for arm in exp.arms:
        n, c = counts[arm.name]
        rate = c / n if n else 0.0
        lift = low = high = None
        if arm.name != control and n and nc and pc > 0:
            diff = rate - pc
            se = math.sqrt(rate * (1 - rate) / n + pc * (1 - pc) / nc)
            lift, low, high = diff / pc, (diff - Z95 * se) / pc, (diff + Z95 * se) / pc
        rows.append(
            ArmReport(
                arm=arm.name,
                exposures=n,
                conversions=c,
                rate=rate,
                control=arm.name == control,
                lift=lift,
                lift_low=low,
                lift_high=high,
                prob_best=best[arm.name],
            )
        )
    return ExperimentReport(
        name=exp.name, slot=exp.slot, mode=exp.mode, goal=tuple(exp.goal), window_hours=exp.window_hours, arms=tuple(rows), persona=persona
    )


def prob_best(counts: dict[str, tuple[int, int]], rng: random.Random, draws: int = DRAWS) -> dict[str, float]:
    """P(arm has the highest rate), from Beta(1 + c, 1 + n - c) posteriors."""
    names = list(counts)
    wins = dict.fromkeys(names, 0)
    if not names or draws <= 0:
        return {n: 0.0 for n in names}
    params = [(1.0 + c, 1.0 + max(n - c, 0)) for n, c in (counts[x] for x in names)]
    beta = rng.betavariate
    for _ in range(draws):
        best_i, best_v = 0, -1.0
        for i, (a, b) in enumerate(params):
            x = beta(a, b)
            if x > best_v:
                best_i, best_v = i, x
        wins[names[best_i]] += 1
    return {n: wins[n] / draws for n in names}


def arm_stats(report: Report) -> dict[str, dict[str, ArmStats]]:
    """Counts for the bandit: experiment -> arm -> ArmStats, plus "experiment@persona" keys."""
    out: dict[str, dict[str, ArmStats]] = {}
    for exp in (*report.experiments, *report.by_persona):
        key = stats_key(exp.name, exp.persona)
        out[key] = {a.arm: ArmStats(exposures=a.exposures, conversions=a.conversions) for a in exp.arms}
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:+.1f}%"


def format_report(report: Report) -> str:
    """A plain-text table per experiment, for `tailor report`."""
    if not report.experiments:
        return "no experiments configured\n"
    lines: list[str] = []
    for exp in (*report.experiments, *report.by_persona):
        title = f"{exp.name}  (slot {exp.slot}, {exp.mode}, goal {'+'.join(exp.goal)}, window {exp.window_hours:g} h"
        title += f", persona {exp.persona})" if exp.persona else ")"
        lines.append(title)
        header = f"  {'arm':<16} {'exposed':>8} {'conv':>7} {'rate':>7} {'lift':>8} {'95% interval':>19} {'P(best)':>8}"
        lines.append(header)
        for a in exp.arms:
            name = a.arm + (" *" if a.control else "")
            interval = "control" if a.control else (f"[{_pct(a.lift_low)}, {_pct(a.lift_high)}]" if a.lift is not None else "-")
            lines.append(
                f"  {name:<16} {a.exposures:>8} {a.conversions:>7} {a.rate * 100:>6.2f}% {_pct(a.lift) if not a.control else '':>8} {interval:>19} {a.prob_best * 100:>7.1f}%"
            )
        lines.append("")
    lines.append(f"{report.events} events read, {report.excluded_events} excluded, {report.unknown_exposures} exposures of unknown experiments/arms")
    lines.append("* control. Lift is relative to the control's rate; interval by normal approximation.")
    return "\n".join(lines) + "\n"
