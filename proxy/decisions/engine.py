"""The decision engine: one scanned page + one visitor in, one Decision per slot out.

Rule: the engine is compiled once from Settings (conditions become closures)
and `decide()` is a pure function of its arguments: no I/O, no clock, no
global randomness (the caller passes `rng`). Order of precedence per slot:

    bot -> nothing;  holdout -> nothing;
    variant slots:   forced -> first matching rule -> experiment arm -> default
    ranking slots:   a matching rule adjusts (pin, exclude, boost, bury) or opts
                     out; an experiment arm may choose "origin" (not personalized);
                     otherwise the visitor's interests order the items.

A slot with nothing to say gets no Decision (the origin's content stays) and a
reason in PageDecisions.reasons.

`decide_shared()` reuses the decisions for visitors the engine knows nothing
about (no profile): with no experiments and no holdout those are a function of
the page, the request's context buckets, the config and the catalog only, so
they are computed once per (page, buckets, catalog version) and only the
per-render nonces of the decision ids are drawn afresh.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Mapping

import msgspec

from proxy.catalog import Catalog
from proxy.decision_ids import make_id
from proxy.decisions import ranking, triggers
from proxy.decisions.conditions import Check, compile_condition, references
from proxy.decisions.config import Experiment, Persona, Rule, SlotConfig, Trigger
from proxy.decisions.experiments import ArmStats, choose_arm, in_holdout
from proxy.decisions.visitor import Visitor
from proxy.profile_model import Context, Profile
from proxy.settings import Settings
from slots.model import Decision, Item, ScannedPage, Slot

DEFAULT_RECOMMENDATIONS = 4
SHARED_MEMO_SIZE = 2048  # (page, context buckets) remembered for visitors without a profile
_NONCE_HEX = 8
_DEFAULT_SLOT = SlotConfig()
_DAY = 86400.0

__all__ = ["ArmStats", "DecisionEngine", "PageDecisions"]


class PageDecisions(msgspec.Struct, frozen=True, omit_defaults=True):
    decisions: dict[str, Decision] = {}
    persona: str | None = None
    segments: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()  # active triggers
    holdout: bool = False
    experiments: dict[str, str] = {}  # experiment -> arm assigned on this page (record as sticky)
    reasons: dict[str, str] = {}  # slot -> why it was (or was not) decided


class _Rule:
    __slots__ = ("rule", "label", "check", "trigger_names", "adjust")

    def __init__(self, rule: Rule, index: int, env: DecisionEngine) -> None:
        self.rule = rule
        self.label = rule.name or f"#{index + 1}"
        self.check: Check = compile_condition(rule.when, env)
        self.trigger_names = tuple(n for kind, n, _ in references(rule.when, "") if kind == "trigger")
        self.adjust = ranking.Adjust(rule.pin, rule.exclude, rule.exclude_tags, rule.boost, rule.bury)


class _Slot:
    __slots__ = ("config", "rules", "experiment")

    def __init__(self, config: SlotConfig, env: DecisionEngine, experiment: Experiment | None) -> None:
        self.config = config
        self.rules = tuple(_Rule(r, i, env) for i, r in enumerate(config.rules))
        self.experiment = experiment


class DecisionEngine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._segments: tuple[tuple[str, Check], ...] = tuple(
            (s.name, compile_condition(s.when, self)) for s in settings.segments
        )
        self._segment_checks = dict(self._segments)
        self._personas: tuple[tuple[Persona, Check], ...] = tuple(
            (p, compile_condition(p.when, self)) for p in settings.personas
        )
        self._persona_names = {p.name for p in settings.personas}
        self._scored = any(p.score for p in settings.personas)
        self._triggers: dict[str, Trigger] = {t.name: t for t in settings.triggers}
        experiments: dict[str, Experiment] = {}
        for exp in settings.experiments:
            if exp.enabled and exp.slot not in experiments:
                experiments[exp.slot] = exp
        self._slots = {name: _Slot(cfg, self, experiments.get(name)) for name, cfg in settings.slots.items()}
        self._default_slots = {name: _Slot(_DEFAULT_SLOT, self, exp) for name, exp in experiments.items() if name not in self._slots}
        self._bare = _Slot(_DEFAULT_SLOT, self, None)
        self._half_life = settings.profiles.half_life_days
        self._session_timeout = settings.profiles.session_timeout_minutes
        self._max_shift = settings.decisions.search_max_shift
        # Decisions without a profile depend on the visitor id only through holdout and experiment buckets.
        self._shareable = not experiments and settings.holdout.percent <= 0
        self._shared: OrderedDict[tuple, tuple[ScannedPage, PageDecisions]] = OrderedDict()

    # -- name resolution for compiled conditions ------------------------------

    def segment(self, v: Visitor, name: str) -> bool:
        key = "segment:" + name
        memo = v.memo
        if key in memo:
            return bool(memo[key])
        memo[key] = None  # a cycle evaluates to False instead of recursing
        check = self._segment_checks.get(name)
        result = bool(check is not None and check(v))
        memo[key] = result
        return result

    def trigger(self, v: Visitor, name: str) -> triggers.TriggerState | None:
        key = "trigger:" + name
        memo = v.memo
        if key in memo:
            return memo[key]
        trig = self._triggers.get(name)
        state = triggers.evaluate(trig, v) if trig is not None else None
        memo[key] = state
        return state

    # -- the per-request entry point --------------------------------------------

    def decide(
        self,
        page: ScannedPage,
        profile: Profile | None,
        context: Context,
        catalog: Catalog,
        *,
        rng: random.Random,
        arm_stats: Mapping[str, Mapping[str, ArmStats]] | None = None,
    ) -> PageDecisions:
        if context.is_bot or context.device == "bot":
            return PageDecisions(reasons={s.name: "bot" for s in page.slots})
        v = Visitor(
            profile, context, catalog, half_life_days=self._half_life, session_timeout_minutes=self._session_timeout
        )
        if not context.preview and in_holdout(self.settings.holdout, v.vid):
            return PageDecisions(holdout=True, reasons={s.name: "holdout" for s in page.slots})
        persona = self._persona(v)
        v.persona = persona
        segments = tuple(name for name, _ in self._segments if self.segment(v, name))
        active = tuple(name for name in self._triggers if self.trigger(v, name) is not None)
        decisions: dict[str, Decision] = {}
        reasons: dict[str, str] = {}
        assigned: dict[str, str] = {}
        page_item = page.page_item.id if page.page_item is not None else context.page_item
        for slot in page.slots:
            if slot.name in reasons:
                continue  # a repeated slot name: the first one is decided, the rest stay
            compiled = self._slots.get(slot.name) or self._default_slots.get(slot.name) or self._bare
            decision, why, arm = self._decide_slot(slot, compiled, v, catalog, page_item, rng, arm_stats)
            reasons[slot.name] = why
            if decision is not None:
                decisions[slot.name] = decision
            if arm is not None and compiled.experiment is not None:
                assigned[compiled.experiment.name] = arm
        return PageDecisions(
            decisions=decisions,
            persona=persona,
            segments=segments,
            triggers=active,
            experiments=assigned,
            reasons=reasons,
        )

    def decide_shared(
        self,
        page: ScannedPage,
        context: Context,
        catalog: Catalog,
        *,
        rng: random.Random,
        arm_stats: Mapping[str, Mapping[str, ArmStats]] | None = None,
    ) -> PageDecisions:
        """decide() for a visitor with no profile, reused across such visitors where that is exact.

        `page` should be a scan the caller reuses for byte-identical pages (the
        memo holds it by identity). The key is everything of the context a
        profile-less decision reads; the visitor id, the clock beyond local
        hour and weekday, and anything personal are not in it and not needed.
        """
        if not self._shareable or context.preview or context.forced_persona or context.forced_variants:
            return self.decide(page, None, context, catalog, rng=rng, arm_stats=arm_stats)
        key = (
            id(page),
            id(catalog),
            catalog.version,
            context.path,
            tuple(context.query.items()),
            context.device,
            context.returning,
            context.local_hour,
            context.weekday,
            context.country,
            context.referrer_domain,
            context.utm_source,
            context.utm_medium,
            context.utm_campaign,
            context.search_query,
            context.page_item,
            context.is_bot,
        )
        memo = self._shared
        hit = memo.get(key)
        if hit is not None and hit[0] is page:
            memo.move_to_end(key)
            pd = hit[1]
            if not pd.decisions:
                return pd
            return msgspec.structs.replace(
                pd, decisions={name: _renonce(d, rng) for name, d in pd.decisions.items()}
            )
        pd = self.decide(page, None, context, catalog, rng=rng, arm_stats=arm_stats)
        memo[key] = (page, pd)
        if len(memo) > SHARED_MEMO_SIZE:
            memo.popitem(last=False)
        return pd

    # -- personas ------------------------------------------------------------------

    def _persona(self, v: Visitor) -> str | None:
        """First matching persona in file order; when any persona has `score`
        weights, the matching persona with the highest score (ties: the earlier)."""
        forced = v.context.forced_persona
        if forced is not None and forced in self._persona_names:
            return forced
        if not self._scored:
            for persona, check in self._personas:
                if check(v):
                    return persona.name
            return None
        best: tuple[float, str] | None = None
        for persona, check in self._personas:
            if check(v):
                aff = v.affinity
                score = sum(w * aff.get(tag, 0.0) for tag, w in persona.score.items())
                if best is None or score > best[0]:
                    best = (score, persona.name)
        return best[1] if best is not None else None

    # -- one slot ------------------------------------------------------------------

    def _decide_slot(
        self,
        slot: Slot,
        compiled: _Slot,
        v: Visitor,
        catalog: Catalog,
        page_item: str | None,
        rng: random.Random,
        arm_stats: Mapping[str, Mapping[str, ArmStats]] | None,
    ) -> tuple[Decision | None, str, str | None]:
        cfg = compiled.config
        is_variant = slot.type == "variant"
        rule = self._first_rule(slot, compiled, v, is_variant)
        parts: list[str] = []
        if v.persona:
            parts.append(f"persona={v.persona}")
        if rule is not None:
            parts.append(f"rule={rule.label}")
            if not rule.rule.personalize:
                return None, " ".join([*parts, "origin"]), None
        fields = self._fields(rule, v, catalog) if rule is not None else None

        if is_variant:
            forced = v.context.forced_variants.get(slot.name)
            if forced is not None and (forced in slot.variants or forced == "default"):
                variant = None if forced == "default" else forced
                return self._make(slot, v, rng, variant=variant, reason="forced"), "forced", None
            if rule is not None:
                variant = rule.rule.variant or cfg.default
                if variant is not None and not self._available(slot, cfg, v, variant):
                    variant = None
                parts.append(f"variant={variant or 'default'}")
                return self._make(slot, v, rng, variant=variant, fields=fields, reason=" ".join(parts)), " ".join(parts), None
        exp = compiled.experiment
        arm_name: str | None = None
        origin = False
        arm_variant: str | None = None
        if exp is not None and (not is_variant or rule is None):
            forced_arm = v.context.forced_variants.get(exp.name)
            arm, how = choose_arm(
                exp,
                vid=v.vid,
                seen=v.profile.experiments if v.profile is not None else {},
                persona=v.persona,
                arm_stats=arm_stats,
                rng=rng,
                forced=forced_arm,
            )
            arm_name = arm.name
            origin = arm.strategy == "origin"
            arm_variant = arm.variant
            parts.append(f"arm={arm.name}({how})")
        if is_variant:
            variant = None
            if arm_name is not None:
                if not origin and arm_variant is not None and self._available(slot, cfg, v, arm_variant):
                    variant = arm_variant
                elif cfg.default is not None and self._available(slot, cfg, v, cfg.default):
                    variant = cfg.default
            elif cfg.default is not None and self._available(slot, cfg, v, cfg.default):
                variant = cfg.default
                parts.append("default")
            else:
                return None, " ".join([*parts, "no rule matched"]), None
            parts.append(f"variant={variant or 'default'}")
            reason = " ".join(parts)
            return self._make(slot, v, rng, variant=variant, exp=exp, arm=arm_name, reason=reason), reason, arm_name

        if origin:
            reason = " ".join([*parts, "origin"])
            return self._make(slot, v, rng, exp=exp, arm=arm_name, reason=reason), reason, arm_name
        if rule is None and not cfg.personalize and arm_name is None:
            return None, " ".join([*parts, "personalize=false"]), None
        adjust = rule.adjust if rule is not None else ranking.NO_ADJUST
        weights = v.blended(cfg.session_weight) if cfg.personalize else {}
        decision: Decision | None = None
        if slot.type in ("carousel", "search"):
            if not slot.items:
                return None, " ".join([*parts, "no items"]), None
            if not weights and adjust.empty and arm_name is None:
                return None, " ".join([*parts, "no interests yet"]), None
            if slot.type == "carousel":
                order = ranking.order_items(slot.items, weights, adjust)
                parts.append("affinity" if weights else "rules")
            else:
                shift = cfg.max_shift if cfg.max_shift is not None else self._max_shift
                order = ranking.search_order(slot.items, weights, shift, adjust)
                parts.append(f"search shift<={shift}")
            if slot.max_items is not None:
                order = order[: slot.max_items]
            reason = " ".join(parts)
            decision = self._make(slot, v, rng, order=tuple(order), fields=fields, exp=exp, arm=arm_name, reason=reason)
            return decision, reason, arm_name
        if slot.type == "recommendations":
            items, strategy = self._recommend(slot, cfg, v, catalog, page_item, weights, adjust)
            if not items:
                return None, " ".join([*parts, "nothing to recommend"]), None
            parts.append(strategy)
            reason = " ".join(parts)
            decision = self._make(slot, v, rng, fill=tuple(items), fields=fields, exp=exp, arm=arm_name, reason=reason)
            return decision, reason, arm_name
        return None, "unknown slot type", None

    def _first_rule(self, slot: Slot, compiled: _Slot, v: Visitor, is_variant: bool) -> _Rule | None:
        for r in compiled.rules:
            rule = r.rule
            if rule.cap_per_day is not None and v.exposures_today(f"{slot.name}:{rule.variant or ''}") >= rule.cap_per_day:
                continue
            if is_variant and rule.variant is not None and not self._available(slot, compiled.config, v, rule.variant):
                continue
            if r.check(v):
                return r
        return None

    @staticmethod
    def _available(slot: Slot, cfg: SlotConfig, v: Visitor, variant: str) -> bool:
        """The page has this alternative and its daily cap is not reached."""
        if variant not in slot.variants:
            return False
        cap = cfg.caps.get(variant)
        return cap is None or v.exposures_today(f"{slot.name}:{variant}") < cap

    def _fields(self, rule: _Rule, v: Visitor, catalog: Catalog) -> dict[str, str] | None:
        for name in rule.trigger_names:
            state = self.trigger(v, name)
            if state is not None:
                item = catalog.get(state.item) if state.item is not None else None
                return triggers.template_fields(state, item)
        return None

    def _recommend(
        self,
        slot: Slot,
        cfg: SlotConfig,
        v: Visitor,
        catalog: Catalog,
        page_item: str | None,
        weights: Mapping[str, float],
        adjust: ranking.Adjust,
    ) -> tuple[list[Item], str]:
        if not len(catalog):
            return [], "empty catalog"
        limit = slot.limit or cfg.limit or DEFAULT_RECOMMENDATIONS
        if slot.max_items is not None:
            limit = min(limit, slot.max_items)
        exclude: set[str] = set()
        seeds: list[str] = []
        if page_item:
            exclude.add(page_item)
            seeds.append(page_item)
        due: dict[str, float] = {}
        p = v.profile
        if p is not None:
            session = v.session
            exclude.update(session.cart)
            intervals = catalog.stats.repurchase_days
            for item_id, times in p.purchases.items():
                cycle = intervals.get(item_id)
                if cycle and cfg.buy_again and times and v.now - max(times) >= 0.9 * cycle * _DAY:
                    due[item_id] = 1.0
                else:
                    exclude.add(item_id)
            for e in reversed(p.recent):
                if len(seeds) >= ranking.SEEDS:
                    break
                if e.type == "page_view" and e.item and e.item not in seeds:
                    seeds.append(e.item)
            if len(seeds) < ranking.SEEDS:
                for item_id in session.viewed:
                    if item_id not in seeds:
                        seeds.append(item_id)
        return ranking.recommend(
            catalog,
            weights,
            limit=limit,
            seeds=seeds,
            exclude=exclude,
            due={k: d for k, d in due.items() if k not in exclude},
            adjust=adjust,
            coview_weight=cfg.coview_weight,
            popularity_weight=cfg.popularity_weight,
            max_per_category=cfg.max_per_category,
        )

    @staticmethod
    def _make(
        slot: Slot,
        v: Visitor,
        rng: random.Random,
        *,
        reason: str,
        variant: str | None = None,
        order: tuple[str, ...] | None = None,
        fill: tuple[Item, ...] | None = None,
        fields: dict[str, str] | None = None,
        exp: Experiment | None = None,
        arm: str | None = None,
    ) -> Decision:
        nonce = ("pv" if v.context.preview else "") + f"{rng.getrandbits(32):08x}"
        if arm is not None and v.persona:
            nonce += "_" + v.persona
        return Decision(
            slot=slot.name,
            id=make_id(variant=variant, experiment=exp.name if arm is not None and exp is not None else None, arm=arm, nonce=nonce),
            reason=reason,
            order=order,
            fill=fill,
            variant=variant,
            fields=fields or None,
        )


def _renonce(decision: Decision, rng: random.Random) -> Decision:
    """The same decision with a fresh per-render nonce (ids of shared decisions never repeat)."""
    stem = decision.id[: -_NONCE_HEX]
    return msgspec.structs.replace(decision, id=f"{stem}{rng.getrandbits(32):08x}")
