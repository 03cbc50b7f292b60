"""One visitor as one decision sees it: the profile read at `now`, computed lazily, once.

Rule: a Visitor lives for one `decide()` call. Everything derived from the
profile (decayed, normalized affinities; segment and trigger results) is
computed on first use and memoized, so conditions, personas and every slot
share the work. Nothing here writes to the profile.

Affinities are normalized to 0..1 where 1 is the visitor's strongest interest:
`affinity = "camping", above = 0.5` reads "camping is at least half as strong
as whatever this visitor likes most".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from proxy.profile_model import Context, Profile, Session

if TYPE_CHECKING:
    from proxy.catalog import Catalog

_EMPTY_SESSION = Session()
_DAY = 86400.0


class Visitor:
    __slots__ = (
        "profile",
        "context",
        "catalog",
        "now",
        "half_life",
        "session_timeout",
        "_affinity",
        "_session_affinity",
        "_blended",
        "memo",
        "persona",
    )

    def __init__(
        self,
        profile: Profile | None,
        context: Context,
        catalog: Catalog | None,
        *,
        half_life_days: float,
        session_timeout_minutes: float,
    ) -> None:
        self.profile = profile
        self.context = context
        self.catalog = catalog
        self.now = context.now
        self.half_life = half_life_days * _DAY
        self.session_timeout = session_timeout_minutes * 60.0
        self._affinity: dict[str, float] | None = None
        self._session_affinity: dict[str, float] | None = None
        self._blended: dict[float, dict[str, float]] = {}
        self.memo: dict[str, Any] = {}  # "segment:x" / "trigger:x" -> result (None while computing)
        self.persona: str | None = None

    # -- affinities -------------------------------------------------------

    @property
    def affinity(self) -> dict[str, float]:
        """Long-term tag affinity decayed to now, normalized to max 1."""
        if self._affinity is None:
            self._affinity = {}
            p = self.profile
            if p is not None and p.affinities:
                now, hl = self.now, self.half_life
                raw = {}
                for tag, score in p.affinities.items():
                    age = now - score.ts
                    value = score.value * 2.0 ** (-age / hl) if age > 0 else score.value
                    if value > 0:
                        raw[tag] = value
                if raw:
                    top = max(raw.values())
                    self._affinity = {t: v / top for t, v in raw.items()}
        return self._affinity

    @property
    def session(self) -> Session:
        """This session, or an empty one when the stored session has timed out."""
        p = self.profile
        if p is None:
            return _EMPTY_SESSION
        if self.now - p.session.last_seen > self.session_timeout:
            return _EMPTY_SESSION
        return p.session

    @property
    def session_affinity(self) -> dict[str, float]:
        if self._session_affinity is None:
            raw = {t: v for t, v in self.session.affinities.items() if v > 0}
            if raw:
                top = max(raw.values())
                self._session_affinity = {t: v / top for t, v in raw.items()}
            else:
                self._session_affinity = {}
        return self._session_affinity

    def blended(self, session_weight: float) -> dict[str, float]:
        """Long-term affinity blended with this session's interests (either alone if the other is empty)."""
        cached = self._blended.get(session_weight)
        if cached is not None:
            return cached
        long, sess = self.affinity, self.session_affinity
        if not sess or session_weight <= 0:
            out = long
        elif not long or session_weight >= 1:
            out = sess
        else:
            keep = 1.0 - session_weight
            out = {t: v * keep for t, v in long.items()}
            for t, v in sess.items():
                out[t] = out.get(t, 0.0) + v * session_weight
        self._blended[session_weight] = out
        return out

    def interests_above(self, level: float) -> int:
        """How many tags have a normalized affinity >= level (memoized per level)."""
        key = f"interests:{level}"
        count = self.memo.get(key)
        if count is None:
            count = self.memo[key] = sum(1 for a in self.affinity.values() if a >= level)
        return count

    @property
    def has_interests(self) -> bool:
        return bool(self.affinity) or bool(self.session_affinity)

    # -- facts used by conditions and triggers ------------------------------

    def counter(self, name: str) -> float:
        p = self.profile
        if p is None:
            return 0.0
        if name == "session_page_views":
            return float(self.session.page_views)
        if name == "session_number":
            return float(p.session.number)
        if name == "cart_items":
            return float(sum(self.session.cart.values()) if self.session.cart else sum(p.session.cart.values()))
        if name == "distinct_purchased":
            return float(len(p.purchases))
        if name == "searches":
            return float(sum(1 for e in p.recent if e.type == "search") or len(p.session.searches))
        return float(getattr(p.counters, name, 0) or 0)

    def last_time(self, which: str) -> float | None:
        p = self.profile
        if p is None:
            return None
        if which == "first_seen":
            return p.created or None
        if which == "last_seen":
            return p.session.last_seen or p.updated or None
        if which == "last_purchase":
            times = [max(ts) for ts in p.purchases.values() if ts]
            times += [e.ts for e in p.recent if e.type == "purchase"]
            return max(times) if times else None
        if which == "last_add_to_cart":
            times = [e.ts for e in p.recent if e.type == "add_to_cart"]
            return max(times) if times else None
        return None

    def exposures_today(self, key: str) -> int:
        p = self.profile
        if p is None:
            return 0
        times = p.exposures.get(key)
        if not times:
            return 0
        since = self.now - _DAY
        return sum(1 for t in times if t >= since)

    @property
    def referrer_domain(self) -> str | None:
        """This request's referrer domain, else the domain this session landed from."""
        if self.context.referrer_domain:
            return self.context.referrer_domain
        landing = self.session.landing_referrer
        if not landing:
            return None
        try:
            host = urlsplit(landing).hostname
        except ValueError:
            return None
        return host.removeprefix("www.") if host else None

    @property
    def returning(self) -> bool:
        return self.context.returning

    @property
    def vid(self) -> str | None:
        if self.profile is not None:
            return self.profile.vid
        return self.context.vid
