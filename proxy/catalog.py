"""The item catalog: what Tailor knows about the shop's items, in memory.

Rule: items come from the origin's own pages (`observe`, fed by the proxy
with what the slot scanner found) and from an optional feed file
(`load_feed`, read once at start-up). Lookups used per request are O(1) or
served from per-tag lists sorted by popularity, rebuilt lazily after the
catalog or its `stats` change, so recommendations never scan the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import msgspec

from proxy.errors import ConfigError
from proxy.profile_model import CatalogStats
from slots.model import Item

DEFAULT_MAX_ITEMS = 200_000


def load_feed(path: str | Path) -> list[Item]:
    """Read a JSON feed: a list of items `{"id": .., "tags": [..], "title": .., ...}`.

    Raises ConfigError naming the file and the offending entry.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read catalog feed: {exc.strerror}", file=name) from exc
    try:
        items = msgspec.json.decode(data, type=list[Item])
    except msgspec.ValidationError as exc:
        message = str(exc).replace(" - at `$", " (at entry ").replace("`", "")
        if "(at entry" in message:
            message += ")"
        raise ConfigError(f"invalid catalog feed: {message}", file=name) from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"catalog feed is not valid JSON: {exc}", file=name) from exc
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not item.id:
            raise ConfigError(f"invalid catalog feed: entry [{index}] has an empty id", file=name)
        if item.id in seen:
            raise ConfigError(f"invalid catalog feed: entry [{index}] repeats id {item.id!r}", file=name)
        seen.add(item.id)
    return items


class Catalog:
    """In-memory items with a tag index. Not thread-safe: one per event loop."""

    def __init__(
        self, items: Iterable[Item] = (), *, stats: CatalogStats | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> None:
        self.items: dict[str, Item] = {}
        self.max_items = max_items
        self._by_tag: dict[str, set[str]] = {}
        self._sorted_tag: dict[str, list[str]] = {}
        self._popular: list[str] | None = None
        self._coviews: dict[str, list[tuple[str, float]]] = {}
        self._max_pop = 0.0
        self.version = 0  # bumped on every change of items or stats (lets callers cache what they derived)
        self.stats = stats or CatalogStats()
        self.observe(items)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.items

    def get(self, item_id: str) -> Item | None:
        return self.items.get(item_id)

    # -- learning -----------------------------------------------------------

    def observe(self, items: Iterable[Item]) -> list[Item]:
        """Add or update items; returns those that were new or changed.

        An item seen with fewer details than known (e.g. no title) keeps the
        known ones: pages mark items with varying completeness.
        """
        changed: list[Item] = []
        for item in items:
            if not item.id:
                continue
            old = self.items.get(item.id)
            if old is None:
                if len(self.items) >= self.max_items:
                    continue
            elif old == item:  # the common case, a page showing what we know: no merge to build
                continue
            merged = item if old is None else _merge(old, item)
            if merged == old:
                continue
            if old is not None:
                for tag in old.tags:
                    ids = self._by_tag.get(tag)
                    if ids is not None:
                        ids.discard(item.id)
                    self._sorted_tag.pop(tag, None)
            self.items[item.id] = merged
            for tag in merged.tags:
                self._by_tag.setdefault(tag, set()).add(item.id)
                self._sorted_tag.pop(tag, None)
            if old is None:
                self._popular = None
            changed.append(merged)
        if changed:
            self.version += 1
        return changed

    # -- cross-visitor stats -------------------------------------------------

    @property
    def stats(self) -> CatalogStats:
        return self._stats

    @stats.setter
    def stats(self, value: CatalogStats) -> None:
        self._stats = value
        self.version += 1
        self._sorted_tag.clear()
        self._coviews.clear()
        self._popular = None
        self._max_pop = max(value.popularity.values(), default=0.0)

    @property
    def max_popularity(self) -> float:
        return self._max_pop

    def popularity(self, item_id: str) -> float:
        """Popularity normalized to 0..1 (1: the most popular item)."""
        if self._max_pop <= 0:
            return 0.0
        return self._stats.popularity.get(item_id, 0.0) / self._max_pop

    # -- retrieval -------------------------------------------------------------

    def tagged(self, tag: str, limit: int) -> list[str]:
        """Up to `limit` item ids carrying `tag`, most popular first (ties: id)."""
        ranked = self._sorted_tag.get(tag)
        if ranked is None:
            ids = self._by_tag.get(tag)
            if not ids:
                return []
            pop = self._stats.popularity
            ranked = sorted(ids, key=lambda i: (-pop.get(i, 0.0), i))
            self._sorted_tag[tag] = ranked
        return ranked[:limit]

    def popular(self, limit: int) -> list[str]:
        """The most popular known items (only those with some popularity; ties: id)."""
        if self._popular is None:
            pop = self._stats.popularity
            self._popular = sorted((i for i in pop if i in self.items and pop[i] > 0), key=lambda i: (-pop[i], i))
        return self._popular[:limit]

    def coviewed(self, item_id: str, limit: int) -> list[tuple[str, float]]:
        """Items viewed together with `item_id`, weight normalized to 0..1, strongest first."""
        cached = self._coviews.get(item_id)
        if cached is None:
            row = [(o, w) for o, w in (self._stats.coviews.get(item_id) or {}).items() if w > 0 and o != item_id]
            top = max((w for _, w in row), default=0.0)
            cached = sorted(((o, w / top) for o, w in row), key=lambda x: (-x[1], x[0]))[:50] if top > 0 else []
            self._coviews[item_id] = cached
        return cached[:limit]


def _merge(old: Item, new: Item) -> Item:
    return Item(
        id=old.id,
        tags=new.tags or old.tags,
        title=new.title if new.title is not None else old.title,
        url=new.url if new.url is not None else old.url,
        image=new.image if new.image is not None else old.image,
        price=new.price if new.price is not None else old.price,
        category=new.category if new.category is not None else old.category,
    )
