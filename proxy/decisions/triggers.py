"""Triggers: signals over one visitor's recent events, evaluated at decision time.

Rule: a trigger only reads the profile (`recent` ring, `session`, `purchases`)
and the catalog's repurchase intervals; it returns a TriggerState naming the
item it is about (if any), or None. The window is `within_minutes` when set,
else the current session (an expired session counts as empty).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from proxy.decisions.config import Trigger
from proxy.decisions.visitor import Visitor
from proxy.profile_model import RecentEvent
from slots.model import Item

_DAY = 86400.0


class TriggerState(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    item: str | None = None
    ts: float = 0.0  # when the signal happened (latest event behind it)


def evaluate(trigger: Trigger, visitor: Visitor) -> TriggerState | None:
    if visitor.profile is None:
        return None
    kind = trigger.kind
    if kind == "repeat_view":
        return _repeat_view(trigger, visitor)
    if kind == "cart_abandoned":
        return _cart_abandoned(trigger, visitor)
    if kind == "replenish":
        return _replenish(trigger, visitor)
    return _event_count(trigger, visitor)


def _window(trigger: Trigger, visitor: Visitor, *, whole_history: bool = False) -> list[RecentEvent]:
    p = visitor.profile
    assert p is not None
    if trigger.within_minutes is not None:
        since = visitor.now - trigger.within_minutes * 60.0
        return [e for e in p.recent if e.ts >= since]
    if whole_history:
        return list(p.recent)
    session = visitor.session
    if session is not p.session:  # timed out: nothing in "this session"
        return []
    number = session.number
    return [e for e in p.recent if e.session == number or (e.ts >= session.started > 0)]


def _repeat_view(trigger: Trigger, visitor: Visitor) -> TriggerState | None:
    events = _window(trigger, visitor)
    views: dict[str, int] = {}
    last: dict[str, float] = {}
    carted: set[str] = set()
    for e in events:
        if e.item is None:
            continue
        if e.type == "page_view":
            views[e.item] = views.get(e.item, 0) + 1
            last[e.item] = max(last.get(e.item, 0.0), e.ts)
        elif e.type in ("add_to_cart", "purchase"):
            carted.add(e.item)
    if trigger.within_minutes is None:  # session counters are authoritative for "this session"
        for item, n in visitor.session.viewed.items():
            if n > views.get(item, 0):
                views[item] = n
                last.setdefault(item, visitor.session.last_seen)
    carted.update(visitor.session.cart)
    best = None
    for item, n in views.items():
        if n >= trigger.count and item not in carted:
            key = (n, last.get(item, 0.0))
            if best is None or key > best[0]:
                best = (key, item)
    if best is None:
        return None
    return TriggerState(name=trigger.name, item=best[1], ts=best[0][1])


def _cart_abandoned(trigger: Trigger, visitor: Visitor) -> TriggerState | None:
    p = visitor.profile
    assert p is not None
    events = sorted(_window(trigger, visitor, whole_history=True), key=lambda e: e.ts)
    added: dict[str, float] = {}
    for e in events:
        if e.item is None:
            if e.type == "purchase":  # an order without line detail clears the cart
                added.clear()
            continue
        if e.type == "add_to_cart":
            added[e.item] = e.ts
        elif e.type in ("remove_from_cart", "purchase"):
            added.pop(e.item, None)
    for item, t in list(added.items()):
        bought = p.purchases.get(item)
        if bought and max(bought) >= t:
            del added[item]
    if not added:
        return None
    item, ts = max(added.items(), key=lambda kv: kv[1])
    return TriggerState(name=trigger.name, item=item, ts=ts)


def _replenish(trigger: Trigger, visitor: Visitor) -> TriggerState | None:
    p = visitor.profile
    assert p is not None
    catalog = visitor.catalog
    intervals = catalog.stats.repurchase_days if catalog is not None else {}
    best = None
    for item, times in p.purchases.items():
        if not times:
            continue
        cycle = trigger.cycle_days or intervals.get(item)
        if not cycle:
            continue
        last = max(times)
        off = abs((visitor.now - last) / _DAY - cycle)
        if off <= trigger.tolerance_days and item not in visitor.session.cart:
            if best is None or off < best[0]:
                best = (off, item, last)
    if best is None:
        return None
    return TriggerState(name=trigger.name, item=best[1], ts=best[2])


def _event_count(trigger: Trigger, visitor: Visitor) -> TriggerState | None:
    events = [e for e in _window(trigger, visitor) if e.type == trigger.event]
    if len(events) < trigger.count:
        return None
    latest = max(events, key=lambda e: e.ts)
    item = next((e.item for e in sorted(events, key=lambda e: -e.ts) if e.item), None)
    return TriggerState(name=trigger.name, item=item, ts=latest.ts)


def template_fields(state: TriggerState, item: Item | None) -> dict[str, str]:
    """Placeholders a template can use: {trigger}, {item}, and the item's {title}, {url}, ..."""
    fields = {"trigger": state.name}
    if state.item is not None:
        fields["item"] = state.item
    if item is not None:
        for key in ("title", "url", "image", "price", "category"):
            value = getattr(item, key)
            if value:
                fields[key] = value
    return fields


def names(triggers: Iterable[Trigger]) -> set[str]:
    return {t.name for t in triggers}
