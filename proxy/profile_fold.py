"""Folding events into a visitor's Profile: pure, in place, bounded.

Rule: `fold(profile, event, now=...)` changes only `profile` and returns it;
no I/O, no clock of its own (`now` is the collector's receive time). Every
collection in a profile has a cap, so no visitor can grow one without limit.

Interest weights (added to the tags and the item of the event):

    page_view        1.0
    engagement       1.0 per engaged minute (new time only, at most 10 min per event)
    hover            0.5
    click            2.0
    add_to_cart      4.0
    purchase         6.0 per line

Long-term affinities decay with the configured half-life: a Score stores the
value as of its `ts`; readers call `decayed(score, now, half_life)`. This
session's affinities (`Session.affinities`) do not decay: they are what the
visitor is doing right now. A session ends after `session_timeout_minutes`
without events; the next event starts a new one.

Privacy: with GPC (Sec-GPC: 1) or consent personalization=false the profile
keeps nothing but consent state (anything learnt before is wiped).
"""

from __future__ import annotations

import math

from proxy import events as ev
from proxy.decision_ids import parse_id
from proxy.profile_model import Profile, RecentEvent, Score, Session
from proxy.settings import ProfileSettings

W_PAGE_VIEW = 1.0
W_ENGAGED_MINUTE = 1.0
MAX_ENGAGED_MS_PER_EVENT = 10 * 60_000
W_HOVER = 0.5
W_CLICK = 2.0
W_CART = 4.0
W_PURCHASE = 6.0

MAX_TAGS = 200
MAX_ITEMS = 200
MAX_SESSION_TAGS = 100
MAX_SESSION_ITEMS = 100
MAX_CART_LINES = 100
MAX_SEARCHES = 20
MAX_RECENT = 100
MAX_PURCHASED_ITEMS = 200
MAX_PURCHASE_TIMES = 20
MAX_EXPOSURE_KEYS = 100
MAX_EXPOSURE_TIMES = 50
MAX_EXPERIMENTS = 50
MAX_PREFS = 64
MAX_ENGAGED_PAGES = 50
MAX_UTM = 10

DAY = 86_400.0


def decayed(score: Score, now: float, half_life_days: float) -> float:
    """A score's value at `now` (never grows when `now` is before its ts)."""
    age = now - score.ts
    if age <= 0.0:
        return score.value  # the common case inside one beacon: no time has passed
    return score.value * math.pow(0.5, age / (half_life_days * DAY))


def tracking_allowed(profile: Profile) -> bool:
    return not profile.gpc and profile.consent.get("personalization", True)


def forget_behaviour(profile: Profile) -> Profile:
    """Keep identity and consent only (GPC, consent withdrawn)."""
    keep = Profile(
        vid=profile.vid,
        created=profile.created,
        updated=profile.updated,
        version=profile.version,
        customer=profile.customer,
        consent=profile.consent,
        gpc=profile.gpc,
    )
    for field in profile.__struct_fields__:
        setattr(profile, field, getattr(keep, field))
    return profile


def fold(profile: Profile, event: ev.Event, *, now: float, settings: ProfileSettings, gpc: bool = False) -> Profile:
    """Fold one accepted event into `profile` (in place) and return it.

    (Written for speed: the collector folds every event, ~2 us each; the
    common kinds are tested first and `tracking_allowed` is inlined.)
    """
    if not profile.created:
        profile.created = now
    if now > profile.updated:
        profile.updated = now
    profile.version += 1
    if gpc and not profile.gpc:
        profile.gpc = True
        forget_behaviour(profile)
    kind = type(event)
    if kind is ev.Consent:
        _consent(profile, event)  # type: ignore[arg-type]
        return profile
    if profile.gpc or not profile.consent.get("personalization", True):
        return profile

    session = profile.session
    if session.number == 0 or now - session.last_seen > settings.session_timeout_minutes * 60.0:
        session = _new_session(profile, now)
    session.last_seen = now
    half_life = settings.half_life_days
    item: str | None = getattr(event, "item", None)

    if kind is ev.PageView:
        _page_view(profile, session, event, now, half_life)  # type: ignore[arg-type]
    elif isinstance(event, ev.Engagement):
        previous = session.engaged.get(event.url, 0.0)
        new_ms = min(max(0.0, event.ms - previous), MAX_ENGAGED_MS_PER_EVENT)
        if event.ms > previous:
            session.engaged[event.url] = event.ms
            _cap_dict(session.engaged, MAX_ENGAGED_PAGES)
        profile.counters.engaged_ms += new_ms
        if new_ms:
            _interest(profile, session, event.tags, item, W_ENGAGED_MINUTE * new_ms / 60_000, now, half_life)
    elif isinstance(event, ev.Click):
        profile.counters.clicks += 1
        _interest(profile, session, event.tags, item, W_CLICK, now, half_life)
        _decision(profile, event.slot, event.decision, now, exposure=False)
    elif isinstance(event, ev.Hover):
        _interest(profile, session, event.tags, item, W_HOVER, now, half_life)
    elif isinstance(event, ev.AddToCart):
        profile.counters.add_to_carts += 1
        if event.item in session.cart or len(session.cart) < MAX_CART_LINES:
            session.cart[event.item] = min(session.cart.get(event.item, 0) + event.qty, 10_000)
        _interest(profile, session, event.tags, item, W_CART, now, half_life)
    elif isinstance(event, ev.RemoveFromCart):
        left = session.cart.get(event.item, 0) - event.qty
        if left > 0:
            session.cart[event.item] = left
        else:
            session.cart.pop(event.item, None)
    elif isinstance(event, ev.Purchase):
        _purchase(profile, session, event, now, half_life)
    elif isinstance(event, ev.Search):
        query = " ".join(event.q.split())[:256]
        if query:
            if query in session.searches:
                session.searches.remove(query)
            session.searches.append(query)
            del session.searches[:-MAX_SEARCHES]
    elif isinstance(event, ev.Exposure):
        _decision(profile, event.slot, event.decision, now, exposure=True)
    elif isinstance(event, ev.Preference):
        for key, value in event.prefs.items():
            if key in profile.prefs or len(profile.prefs) < MAX_PREFS:
                profile.prefs[key] = list(value) if isinstance(value, tuple) else value
    # Custom events only leave a trace in `recent`.
    _remember(profile, event, now, item, session.number)
    return profile


def _consent(profile: Profile, event: ev.Consent) -> None:
    if event.analytics is not None:
        profile.consent["analytics"] = event.analytics
    if event.personalization is not None:
        profile.consent["personalization"] = event.personalization
        if not event.personalization:
            forget_behaviour(profile)


def _new_session(profile: Profile, now: float) -> Session:
    session = profile.session = Session(number=profile.session.number + 1, started=now, last_seen=now)
    profile.counters.sessions += 1
    return session


def _page_view(profile: Profile, session: Session, event: ev.PageView, now: float, half_life: float) -> None:
    counters = profile.counters
    if session.page_views == 0:
        counters.visits += 1
        if event.referrer and session.landing_referrer is None:
            session.landing_referrer = event.referrer[:2048]
        if event.utm and not session.utm:
            session.utm = dict(list(event.utm.items())[:MAX_UTM])
    session.page_views += 1
    counters.page_views += 1
    if event.tzo is not None:
        profile.tz_offset = event.tzo
    if event.item is not None and (event.item in session.viewed or len(session.viewed) < MAX_SESSION_ITEMS):
        session.viewed[event.item] = session.viewed.get(event.item, 0) + 1
    _interest(profile, session, event.tags, event.item, W_PAGE_VIEW, now, half_life)


def _purchase(profile: Profile, session: Session, event: ev.Purchase, now: float, half_life: float) -> None:
    counters = profile.counters
    counters.purchases += 1
    revenue = event.revenue
    if revenue is None:
        revenue = sum((line.price or 0.0) * line.qty for line in event.items)
    counters.revenue = round(counters.revenue + revenue, 6)
    for line in event.items:
        times = profile.purchases.get(line.item)
        if times is None:
            if len(profile.purchases) >= MAX_PURCHASED_ITEMS:
                oldest = min(profile.purchases, key=lambda k: profile.purchases[k][-1])
                del profile.purchases[oldest]
            times = profile.purchases[line.item] = []
        times.append(now)
        del times[:-MAX_PURCHASE_TIMES]
        session.cart.pop(line.item, None)
        _interest(profile, session, line.tags, line.item, W_PURCHASE, now, half_life)


def _decision(profile: Profile, slot: str | None, decision: str | None, now: float, *, exposure: bool) -> None:
    ref = parse_id(decision)
    if ref is None:
        return
    if ref.experiment and ref.arm and (ref.experiment in profile.experiments or len(profile.experiments) < MAX_EXPERIMENTS):
        profile.experiments[ref.experiment] = ref.arm
    if exposure and slot and ref.variant:
        key = f"{slot}:{ref.variant}"
        times = profile.exposures.get(key)
        if times is None:
            if len(profile.exposures) >= MAX_EXPOSURE_KEYS:
                oldest = min(profile.exposures, key=lambda k: profile.exposures[k][-1] if profile.exposures[k] else 0.0)
                del profile.exposures[oldest]
            times = profile.exposures[key] = []
        times.append(now)
        del times[:-MAX_EXPOSURE_TIMES]


def _interest(
    profile: Profile, session: Session, tags: tuple[str, ...], item: str | None, weight: float, now: float, half_life: float
) -> None:
    if weight <= 0:
        return
    affinities, session_affinities = profile.affinities, session.affinities
    for tag in tags:
        score = affinities.get(tag)
        if score is not None and score.ts >= now:
            score.value += weight  # _bump's common case, inline: no time has passed
        else:
            _bump(affinities, tag, weight, now, half_life, MAX_TAGS)
        value = session_affinities.get(tag)
        if value is not None:
            session_affinities[tag] = value + weight
        elif len(session_affinities) < MAX_SESSION_TAGS:
            session_affinities[tag] = weight
    if item is not None:
        _bump(profile.item_affinities, item, weight, now, half_life, MAX_ITEMS)


def _bump(scores: dict[str, Score], key: str, weight: float, now: float, half_life: float, cap: int) -> None:
    score = scores.get(key)
    if score is None:
        if len(scores) >= cap:
            weakest = min(scores, key=lambda k: decayed(scores[k], now, half_life))
            del scores[weakest]
        scores[key] = Score(weight, now)
    elif score.ts >= now:
        score.value += weight  # no time has passed: nothing to decay
    else:
        score.value = score.value * math.pow(0.5, (now - score.ts) / (half_life * DAY)) + weight
        score.ts = now


def event_kind(event: ev.Event) -> str:
    """The event's wire `type` tag ("page_view", ...)."""
    kind = _KINDS.get(type(event))
    if kind is None:
        kind = _KINDS[type(event)] = type(event).__struct_config__.tag  # type: ignore[attr-defined]
    return kind


_KINDS: dict[type, str] = {}


def _remember(profile: Profile, event: ev.Event, now: float, item: str | None, session: int) -> None:
    kind = _KINDS.get(type(event)) or event_kind(event)
    if type(event) is ev.Custom:
        kind = f"custom:{event.name}"
    recent = profile.recent
    recent.append(RecentEvent(kind, now, item, session))
    if len(recent) > MAX_RECENT:
        del recent[0]  # one in, one out (a profile decoded with more than MAX_RECENT is trimmed below)
        if len(recent) > MAX_RECENT:
            del recent[:-MAX_RECENT]


def _cap_dict(values: dict[str, float], cap: int) -> None:
    while len(values) > cap:
        del values[next(iter(values))]


def merge(into: Profile, other: Profile, *, now: float, settings: ProfileSettings) -> Profile:
    """Absorb `other` (another device of the same customer) into `into`, in place."""
    half_life = settings.half_life_days
    into.created = min(x for x in (into.created, other.created) if x) if (into.created or other.created) else now
    into.updated = max(into.updated, other.updated, now)
    into.version += other.version + 1
    for target, source, cap in ((into.affinities, other.affinities, MAX_TAGS), (into.item_affinities, other.item_affinities, MAX_ITEMS)):
        for key, score in source.items():
            _bump(target, key, decayed(score, now, half_life), now, half_life, cap)
    c, o = into.counters, other.counters
    for field in c.__struct_fields__:
        setattr(c, field, getattr(c, field) + getattr(o, field))
    for item, times in other.purchases.items():
        merged = sorted(set(into.purchases.get(item, [])) | set(times))[-MAX_PURCHASE_TIMES:]
        if item in into.purchases or len(into.purchases) < MAX_PURCHASED_ITEMS:
            into.purchases[item] = merged
    for key, times in other.exposures.items():
        if key in into.exposures or len(into.exposures) < MAX_EXPOSURE_KEYS:
            into.exposures[key] = sorted(set(into.exposures.get(key, [])) | set(times))[-MAX_EXPOSURE_TIMES:]
    for exp, arm in other.experiments.items():
        if len(into.experiments) < MAX_EXPERIMENTS:
            into.experiments.setdefault(exp, arm)
    for key, value in other.prefs.items():
        if key in into.prefs or len(into.prefs) < MAX_PREFS:
            into.prefs.setdefault(key, value)
    into.consent = {**other.consent, **into.consent} if into.consent else dict(other.consent)
    into.gpc = into.gpc or other.gpc
    into.recent = sorted(into.recent + other.recent, key=lambda r: r.ts)[-MAX_RECENT:]
    if other.session.last_seen > into.session.last_seen:
        into.session = other.session  # the device in use now carries the live session
    if into.tz_offset is None:
        into.tz_offset = other.tz_offset
    if not tracking_allowed(into):
        forget_behaviour(into)
    return into
