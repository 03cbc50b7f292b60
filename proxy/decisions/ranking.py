"""Ordering and recommending items by a visitor's interests.

Rule: pure functions over item lists and a tag -> weight table. Sorting is
stable (ties keep the origin's order); search re-ranking is bounded (no item
moves more than `max_shift` places); recommendations draw a bounded set of
candidates from the catalog's indexes and never scan the whole catalog.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

from proxy.catalog import Catalog
from slots.model import Item

BURIED = -1e9
TAGS_CONSIDERED = 5  # recommendations: the visitor's strongest tags used for retrieval
MIN_PER_TAG = 12  # candidates per tag: twice the limit, at least this many
SEEDS = 4  # recently viewed items whose co-views are used
PER_SEED = 12


class Adjust:
    """A rule's effect on ranking: pins, exclusions, boosts, buried tags."""

    __slots__ = ("pin", "exclude", "exclude_tags", "boost", "bury")

    def __init__(
        self,
        pin: Sequence[str] = (),
        exclude: Iterable[str] = (),
        exclude_tags: Iterable[str] = (),
        boost: Mapping[str, float] | None = None,
        bury: Iterable[str] = (),
    ) -> None:
        self.pin = tuple(pin)
        self.exclude = frozenset(exclude)
        self.exclude_tags = frozenset(exclude_tags)
        self.boost = dict(boost or {})
        self.bury = frozenset(bury)

    @property
    def empty(self) -> bool:
        return not (self.pin or self.exclude or self.exclude_tags or self.boost or self.bury)

    def excluded(self, item: Item) -> bool:
        return item.id in self.exclude or (bool(self.exclude_tags) and not self.exclude_tags.isdisjoint(item.tags))

    def score(self, item: Item, weights: Mapping[str, float]) -> float:
        if self.bury and not self.bury.isdisjoint(item.tags):
            return BURIED
        s = 0.0
        get = weights.get
        for tag in item.tags:
            s += get(tag, 0.0)
        if self.boost:
            for tag in item.tags:
                s += self.boost.get(tag, 0.0)
        return s


NO_ADJUST = Adjust()


def order_items(items: Sequence[Item], weights: Mapping[str, float], adjust: Adjust = NO_ADJUST) -> list[str]:
    """Carousel order: pinned first, then by score (stable), excluded dropped."""
    kept = [it for it in items if not adjust.excluded(it)]
    pinned = [p for p in adjust.pin if any(it.id == p for it in kept)]
    pinned_set = set(pinned)
    rest = [it for it in kept if it.id not in pinned_set]
    scores = {it.id: adjust.score(it, weights) for it in rest}
    rest.sort(key=lambda it: -scores[it.id])  # list.sort is stable
    return pinned + [it.id for it in rest]


def bounded_rerank(scores: Sequence[float], max_shift: int) -> list[int]:
    """A permutation of range(len(scores)): best score first, but no index moves more than max_shift.

    At output position k, the item from origin position k - max_shift (if
    still waiting) must go now; otherwise the best-scored waiting item among
    origin positions <= k + max_shift goes (ties: the earlier one).
    """
    n = len(scores)
    placed = [False] * n
    out: list[int] = []
    for k in range(n):
        forced = k - max_shift
        if forced >= 0 and not placed[forced]:
            choice = forced
        else:
            choice = -1
            for j in range(max(0, forced), min(n, k + max_shift + 1)):
                if not placed[j] and (choice < 0 or scores[j] > scores[choice]):
                    choice = j
        placed[choice] = True
        out.append(choice)
    return out


def search_order(items: Sequence[Item], weights: Mapping[str, float], max_shift: int, adjust: Adjust = NO_ADJUST) -> list[str]:
    kept = [it for it in items if not adjust.excluded(it)]
    pins = {p: len(adjust.pin) - i for i, p in enumerate(adjust.pin)}
    scores = [adjust.score(it, weights) + (1e6 * pins[it.id] if it.id in pins else 0.0) for it in kept]
    return [kept[i].id for i in bounded_rerank(scores, max_shift)]


def recommend(
    catalog: Catalog,
    weights: Mapping[str, float],
    *,
    limit: int,
    seeds: Sequence[str] = (),
    exclude: Iterable[str] = (),
    due: Mapping[str, float] | None = None,
    adjust: Adjust = NO_ADJUST,
    coview_weight: float = 1.0,
    popularity_weight: float = 0.2,
    max_per_category: int = 3,
) -> tuple[list[Item], str]:
    """Up to `limit` items and the strategy that produced them ("affinity", "coviews", "popularity")."""
    excluded = set(exclude)
    scores: dict[str, float] = {}
    coview_hits = 0
    if weights:
        per_tag = max(MIN_PER_TAG, 2 * limit)
        top = heapq.nlargest(TAGS_CONSIDERED, weights.items(), key=lambda kv: kv[1])
        for tag, _ in top:
            for item_id in catalog.tagged(tag, per_tag):
                scores[item_id] = 0.0
    for seed in seeds[:SEEDS]:
        for item_id, w in catalog.coviewed(seed, PER_SEED):
            scores[item_id] = scores.get(item_id, 0.0) + coview_weight * w
            coview_hits += 1
    if due:
        for item_id, bonus in due.items():
            scores[item_id] = scores.get(item_id, 0.0) + bonus
    if len(scores) < limit * 2:
        for item_id in catalog.popular(limit * 3):
            scores.setdefault(item_id, 0.0)
    for item_id in adjust.pin:
        scores.setdefault(item_id, 0.0)
    items = catalog.items
    ranked: list[tuple[float, str]] = []
    pins = {p: len(adjust.pin) - i for i, p in enumerate(adjust.pin)}
    popularity = catalog.stats.popularity
    top_pop = catalog.max_popularity
    pop_scale = popularity_weight / top_pop if top_pop > 0 else 0.0
    get_weight = weights.get
    plain = adjust.empty
    for item_id, base in scores.items():
        if item_id in excluded:
            continue
        item = items.get(item_id)
        if item is None:
            continue
        if plain:
            s = base
            for tag in item.tags:
                s += get_weight(tag, 0.0)
        else:
            if adjust.excluded(item):
                continue
            s = base + adjust.score(item, weights)
            if item_id in pins:
                s += 1e6 * pins[item_id]
        if pop_scale:
            s += pop_scale * popularity.get(item_id, 0.0)
        ranked.append((-s, item_id))
    ranked.sort()
    chosen: list[Item] = []
    per_category: dict[str, int] = {}
    for _, item_id in ranked:
        item = items[item_id]
        if item.category is not None:
            n = per_category.get(item.category, 0)
            if n >= max_per_category and item_id not in pins:
                continue
            per_category[item.category] = n + 1
        chosen.append(item)
        if len(chosen) >= limit:
            break
    strategy = "affinity" if weights else ("coviews" if coview_hits else "popularity")
    return chosen, strategy
