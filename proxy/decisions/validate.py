"""Cross-field checks of the personalization config, run at start-up and by `tailor check`.

Rule: msgspec has already checked fields and types; this module checks what
spans fields: names referenced (segment, persona, trigger, slot, variant,
arm), impossible conditions, duplicates and reference cycles. The first
problem found raises ConfigError with the file and the TOML line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from proxy.decisions.conditions import problems, references
from proxy.errors import ConfigError
from proxy.settings import locate

_EVENT_TYPES = ("page_view", "click", "hover", "exposure", "engagement", "search", "add_to_cart", "remove_from_cart", "purchase", "preference", "consent", "custom")


def check(settings: Any, *, text: str = "", file: str | None = None) -> None:
    for path, message in issues(settings):
        readable = path.removeprefix("$.")
        raise ConfigError(f"{readable}: {message}", file=file, line=locate(text, path))


def issues(settings: Any) -> Iterator[tuple[str, str]]:
    """Every (msgspec-style path, message) problem, in file order of sections."""
    segment_names = {s.name for s in settings.segments}
    persona_names = {p.name for p in settings.personas}
    trigger_names = {t.name for t in settings.triggers}
    known = {"segment": segment_names, "persona": persona_names, "trigger": trigger_names}

    yield from _duplicates("personas", [p.name for p in settings.personas])
    yield from _duplicates("segments", [s.name for s in settings.segments])
    yield from _duplicates("triggers", [t.name for t in settings.triggers])
    yield from _duplicates("experiments", [e.name for e in settings.experiments])

    def condition(cond: Any, path: str, *, in_persona: bool = False) -> Iterator[tuple[str, str]]:
        yield from problems(cond, path)
        for kind, name, where in references(cond, path):
            if in_persona and kind == "persona":
                yield where, "a persona's condition cannot name a persona (personas are chosen from these conditions)"
            elif name not in known[kind]:
                choices = ", ".join(sorted(known[kind])) or "none defined"
                yield where, f"unknown {kind} {name!r} (known: {choices})"

    for i, persona in enumerate(settings.personas):
        yield from condition(persona.when, f"$.personas[{i}].when", in_persona=True)
    for i, segment in enumerate(settings.segments):
        yield from condition(segment.when, f"$.segments[{i}].when")
    yield from _cycles(settings)

    for i, trig in enumerate(settings.triggers):
        path = f"$.triggers[{i}]"
        if trig.kind == "event_count" and not trig.event:
            yield path, "event_count needs event = \"...\" (e.g. \"search\")"
        if trig.event is not None:
            if trig.kind != "event_count":
                yield f"{path}.event", f"event applies to kind = \"event_count\", not {trig.kind!r}"
            elif trig.event not in _EVENT_TYPES and not trig.event.startswith("custom:"):
                yield f"{path}.event", f"unknown event type {trig.event!r} (one of {', '.join(_EVENT_TYPES)}, or custom:NAME)"
        if trig.cycle_days is not None and trig.kind != "replenish":
            yield f"{path}.cycle_days", "cycle_days applies to kind = \"replenish\""

    for name, slot in settings.slots.items():
        base = f"$.slots.{name}"
        declared = set(slot.variants)
        if slot.default is not None:
            if declared and slot.default not in declared:
                yield f"{base}.default", f"unknown variant {slot.default!r} (declared: {', '.join(slot.variants)})"
            if slot.type is not None and slot.type != "variant":
                yield f"{base}.default", f"default applies to variant slots, not {slot.type}"
        for variant in slot.caps:
            if declared and variant not in declared:
                yield f"{base}.caps.{variant}", f"unknown variant {variant!r} (declared: {', '.join(slot.variants)})"
        for j, rule in enumerate(slot.rules):
            path = f"{base}.rules[{j}]"
            yield from condition(rule.when, f"{path}.when")
            if rule.variant is not None:
                if declared and rule.variant not in declared:
                    yield f"{path}.variant", f"unknown variant {rule.variant!r} (declared: {', '.join(slot.variants)})"
                if slot.type is not None and slot.type != "variant":
                    yield f"{path}.variant", f"variant applies to variant slots, not {slot.type}"
            ranking = rule.pin or rule.exclude or rule.exclude_tags or rule.boost or rule.bury
            if ranking and slot.type == "variant":
                yield path, "pin / exclude / boost / bury apply to carousel, recommendations and search slots"
            if rule.cap_per_day is not None and rule.variant is None:
                yield f"{path}.cap_per_day", "cap_per_day counts exposures of this rule's variant: set variant"

    enabled_on: dict[str, str] = {}
    for i, exp in enumerate(settings.experiments):
        path = f"$.experiments[{i}]"
        slot = settings.slots.get(exp.slot)
        if slot is None:
            choices = ", ".join(sorted(settings.slots)) or "none configured"
            yield f"{path}.slot", f"unknown slot {exp.slot!r}: add a [slots.{exp.slot}] table (configured: {choices})"
        if len(exp.arms) < 2:
            yield f"{path}.arms", "an experiment needs at least two arms"
        yield from _duplicates(f"experiments[{i}].arms", [a.name for a in exp.arms])
        arm_names = {a.name for a in exp.arms}
        if exp.control is not None and exp.control not in arm_names:
            yield f"{path}.control", f"unknown arm {exp.control!r} (arms: {', '.join(a.name for a in exp.arms)})"
        if exp.per_persona and exp.mode != "bandit":
            yield f"{path}.per_persona", "per_persona applies to mode = \"bandit\""
        if not exp.goal:
            yield f"{path}.goal", "goal = []: name at least one of click, add_to_cart, purchase"
        for j, arm in enumerate(exp.arms):
            if arm.variant is not None and slot is not None:
                if slot.variants and arm.variant not in slot.variants:
                    yield f"{path}.arms[{j}].variant", f"unknown variant {arm.variant!r} (declared: {', '.join(slot.variants)})"
                if slot.type is not None and slot.type != "variant":
                    yield f"{path}.arms[{j}].variant", f"variant applies to variant slots, not {slot.type}"
        if exp.enabled:
            if exp.slot in enabled_on:
                yield f"{path}.slot", f"slot {exp.slot!r} already has experiment {enabled_on[exp.slot]!r}: disable one (enabled = false)"
            enabled_on[exp.slot] = exp.name


def _duplicates(section: str, names: list[str]) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield f"$.{section}[{i}].name", f"duplicate name {name!r}"
        seen.add(name)


def _cycles(settings: Any) -> Iterator[tuple[str, str]]:
    """Segments naming segments (or the persona) that lead back to themselves."""
    persona_deps: set[str] = set()
    for persona in settings.personas:
        persona_deps.update(n for kind, n, _ in references(persona.when, "") if kind == "segment")
    graph: dict[str, set[str]] = {"persona": {"segment:" + n for n in persona_deps}}
    where: dict[str, str] = {}
    for i, segment in enumerate(settings.segments):
        deps = set()
        for kind, name, _ in references(segment.when, ""):
            if kind == "segment":
                deps.add("segment:" + name)
            elif kind == "persona":
                deps.add("persona")
        graph["segment:" + segment.name] = deps
        where["segment:" + segment.name] = f"$.segments[{i}].when"
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*trail, node, dep]
            if state.get(dep) is None:
                found = visit(dep, [*trail, node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(where):
        if state.get(node) is None:
            loop = visit(node, [])
            if loop:
                start = loop.index(loop[-1])
                cycle = " -> ".join(n.removeprefix("segment:") for n in loop[start:])
                yield where.get(loop[start], where[node]), f"conditions refer to each other in a loop: {cycle}"
                return
