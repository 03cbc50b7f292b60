"""Conditions: checked once (`problems`), compiled once (`compile_condition`) into closures.

Rule: a condition is data with exactly one subject key; compiling turns it
into a plain function `Visitor -> bool`. Nothing is eval'd, and evaluation
never raises on odd profile data (missing values are simply "no").

Subjects and the modifiers each accepts:

    all / any = [..]   not = {..}   always = true
    affinity / session_affinity = "tag"   [above, below]  (0..1; none: any interest)
    interests_above = level               at_least / at_most  (how many tags >= level)
    counter = "purchases"                 at_least / at_most
    since = "last_purchase"               within_days / more_than_days
    pref = "tone"                         [equals / contains]  (none: set and truthy)
    device, hour = [from, to], weekday = [..], country, referrer, utm_source,
    utm_medium, utm_campaign, path_prefix, new_visitor, returning,
    segment, persona, trigger                                  (no modifiers)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from proxy.decisions.config import Condition
from proxy.decisions.visitor import Visitor

Check = Callable[[Visitor], bool]

MODIFIERS: dict[str, frozenset[str]] = {
    "all": frozenset(),
    "any": frozenset(),
    "not": frozenset(),
    "always": frozenset(),
    "affinity": frozenset({"above", "below"}),
    "session_affinity": frozenset({"above", "below"}),
    "interests_above": frozenset({"at_least", "at_most"}),
    "counter": frozenset({"at_least", "at_most"}),
    "since": frozenset({"within_days", "more_than_days"}),
    "pref": frozenset({"equals", "contains"}),
}
SIMPLE = (
    "device",
    "hour",
    "weekday",
    "country",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "path_prefix",
    "new_visitor",
    "returning",
    "segment",
    "persona",
    "trigger",
)
for _name in SIMPLE:
    MODIFIERS[_name] = frozenset()
ALL_MODIFIERS = frozenset().union(*MODIFIERS.values())
_REQUIRED_ONE = {"interests_above", "counter", "since"}


def _present(cond: Condition) -> dict[str, Any]:
    """The keys set in this table, by their TOML names."""
    out = {}
    for field in cond.__struct_fields__:
        value = getattr(cond, field)
        if value is not None:
            out["not" if field == "not_" else field] = value
    return out


def subject_of(cond: Condition) -> str | None:
    keys = [k for k in _present(cond) if k in MODIFIERS]
    return keys[0] if len(keys) == 1 else None


def problems(cond: Condition, path: str) -> Iterator[tuple[str, str]]:
    """(msgspec-style path, message) for every impossible or malformed part."""
    present = _present(cond)
    subjects = [k for k in present if k in MODIFIERS]
    if not subjects:
        mods = sorted(k for k in present if k in ALL_MODIFIERS)
        if mods:
            yield path, f"{', '.join(mods)} needs a subject (e.g. affinity, counter, since)"
        else:
            yield path, "empty condition: give one subject such as affinity, device or segment"
        return
    if len(subjects) > 1:
        yield path, f"one subject per condition, got {', '.join(sorted(subjects))}: combine them with all = [...]"
        return
    subject = subjects[0]
    allowed = MODIFIERS[subject]
    for key in present:
        if key in ALL_MODIFIERS and key not in allowed:
            yield f"{path}.{key}", f"{key} does not apply to {subject}" + (
                f" (use {' / '.join(sorted(allowed))})" if allowed else ""
            )
    if subject in _REQUIRED_ONE and not (allowed & present.keys()):
        yield path, f"{subject} needs {' or '.join(sorted(allowed))}"
    if subject in ("all", "any"):
        items = present[subject]
        if not items:
            yield f"{path}.{subject}", f"empty {subject} = []: give at least one condition"
        for i, sub in enumerate(items):
            yield from problems(sub, f"{path}.{subject}[{i}]")
    elif subject == "not":
        yield from problems(cond.not_, f"{path}.not")  # type: ignore[arg-type]
    elif subject == "always" and cond.always is False:
        yield f"{path}.always", "always = false never matches"
    elif subject in ("affinity", "session_affinity"):
        if cond.above is not None and cond.above >= 1:
            yield f"{path}.above", "impossible: affinity is at most 1 (the visitor's strongest interest)"
        if cond.below is not None and cond.below <= 0:
            yield f"{path}.below", "impossible: affinity is never below 0"
        if cond.above is not None and cond.below is not None and cond.above >= cond.below:
            yield f"{path}.below", f"impossible: above = {cond.above} and below = {cond.below}"
    elif subject == "interests_above":
        if cond.interests_above == 0:
            yield f"{path}.interests_above", "interests_above must be more than 0"
    if cond.at_least is not None and cond.at_most is not None and cond.at_least > cond.at_most:
        yield f"{path}.at_most", f"impossible: at_least = {cond.at_least} and at_most = {cond.at_most}"
    if cond.within_days is not None and cond.more_than_days is not None and cond.more_than_days >= cond.within_days:
        yield f"{path}.within_days", "impossible: more_than_days must be less than within_days"
    if subject == "weekday" and not cond.weekday:
        yield f"{path}.weekday", "empty weekday = []: list days 0 (Monday) to 6"
    if subject in ("device", "country", "referrer", "utm_source", "utm_medium", "utm_campaign"):
        value = present[subject]
        if isinstance(value, tuple) and not value:
            yield f"{path}.{subject}", f"empty {subject} = []"


def references(cond: Condition, path: str) -> Iterator[tuple[str, str, str]]:
    """(kind, name, path) for every segment / persona / trigger named in a condition."""
    for kind in ("segment", "persona", "trigger"):
        name = getattr(cond, kind)
        if name is not None:
            yield kind, name, f"{path}.{kind}"
    for key in ("all", "any"):
        for i, sub in enumerate(getattr(cond, key) or ()):
            yield from references(sub, f"{path}.{key}[{i}]")
    if cond.not_ is not None:
        yield from references(cond.not_, f"{path}.not")


def _one_of(value: str | tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.lower() for v in ((value,) if isinstance(value, str) else value))


def compile_condition(cond: Condition, env: Any) -> Check:
    """A closure evaluating `cond`. `env` resolves names at run time:
    env.segment(visitor, name), env.trigger(visitor, name) -> state | None."""
    if cond.all is not None:
        parts = tuple(compile_condition(c, env) for c in cond.all)
        return lambda v: all(p(v) for p in parts)
    if cond.any is not None:
        parts = tuple(compile_condition(c, env) for c in cond.any)
        return lambda v: any(p(v) for p in parts)
    if cond.not_ is not None:
        inner = compile_condition(cond.not_, env)
        return lambda v: not inner(v)
    if cond.always is not None:
        result = bool(cond.always)
        return lambda v: result
    if cond.affinity is not None or cond.session_affinity is not None:
        tag = cond.affinity if cond.affinity is not None else cond.session_affinity
        session = cond.affinity is None
        lo, hi = cond.above, cond.below

        def affinity(v: Visitor) -> bool:
            table = v.session_affinity if session else v.affinity
            a = table.get(tag, 0.0)  # type: ignore[arg-type]
            if lo is None and hi is None:
                return a > 0
            return (lo is None or a > lo) and (hi is None or a < hi)

        return affinity
    if cond.interests_above is not None:
        level = cond.interests_above
        return _range(lambda v: float(v.interests_above(level)), cond)
    if cond.counter is not None:
        name = cond.counter
        return _range(lambda v: v.counter(name), cond)
    if cond.since is not None:
        which = cond.since
        within = cond.within_days * 86400.0 if cond.within_days is not None else None
        older = cond.more_than_days * 86400.0 if cond.more_than_days is not None else None

        def since(v: Visitor) -> bool:
            t = v.last_time(which)
            if t is None:
                return False
            age = v.now - t
            return (within is None or age <= within) and (older is None or age > older)

        return since
    if cond.pref is not None:
        key = cond.pref
        equals, contains = cond.equals, cond.contains

        def pref(v: Visitor) -> bool:
            if v.profile is None:
                return False
            value = v.profile.prefs.get(key)
            if value is None:
                return False
            if equals is not None:
                if isinstance(value, str) and isinstance(equals, str):
                    return value.lower() == equals.lower()
                return value == equals and type(value) is type(equals)
            if contains is not None:
                if isinstance(value, list):
                    return contains.lower() in (x.lower() for x in value if isinstance(x, str))
                return isinstance(value, str) and contains.lower() in value.lower()
            return bool(value)

        return pref
    if cond.device is not None:
        devices = _one_of(cond.device)
        return lambda v: v.context.device in devices
    if cond.hour is not None:
        start, end = cond.hour
        if start <= end:
            return lambda v: start <= v.context.local_hour <= end
        return lambda v: v.context.local_hour >= start or v.context.local_hour <= end
    if cond.weekday is not None:
        days = frozenset(cond.weekday)
        return lambda v: v.context.weekday in days
    if cond.country is not None:
        countries = _one_of(cond.country)
        return lambda v: (v.context.country or "").lower() in countries
    if cond.referrer is not None:
        domains = tuple(_one_of(cond.referrer))

        def referrer(v: Visitor) -> bool:
            ref = v.referrer_domain
            if not ref:
                return False
            ref = ref.lower()
            return any(ref == d or ref.endswith("." + d) for d in domains)

        return referrer
    for utm in ("utm_source", "utm_medium", "utm_campaign"):
        if getattr(cond, utm) is not None:
            return _utm(utm, _one_of(getattr(cond, utm)))
    if cond.path_prefix is not None:
        prefix = cond.path_prefix
        return lambda v: v.context.path.startswith(prefix)
    if cond.new_visitor is not None:
        want = cond.new_visitor
        return lambda v: (not v.returning) == want
    if cond.returning is not None:
        want = cond.returning
        return lambda v: v.returning == want
    if cond.segment is not None:
        name = cond.segment
        return lambda v: env.segment(v, name)
    if cond.persona is not None:
        name = cond.persona
        return lambda v: v.persona == name
    if cond.trigger is not None:
        name = cond.trigger
        return lambda v: env.trigger(v, name) is not None
    return lambda v: False  # validate rejects empty conditions; never reached for checked config


def _range(measure: Callable[[Visitor], float], cond: Condition) -> Check:
    lo, hi = cond.at_least, cond.at_most

    def check(v: Visitor) -> bool:
        x = measure(v)
        return (lo is None or x >= lo) and (hi is None or x <= hi)

    return check


def _utm(field: str, values: frozenset[str]) -> Check:
    key = field.removeprefix("utm_")

    def check(v: Visitor) -> bool:
        value = getattr(v.context, field) or v.session.utm.get(key) or v.session.utm.get(field)
        return bool(value) and value.lower() in values

    return check
