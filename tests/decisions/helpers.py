"""Builders shared by the decision tests: real Settings from TOML text, pages, profiles."""

from __future__ import annotations

import random
from pathlib import Path

from proxy.catalog import Catalog
from proxy.decisions.engine import DecisionEngine, PageDecisions
from proxy.profile_model import CatalogStats, Context, Profile, RecentEvent, Score, Session
from proxy.settings import Settings, load_settings
from slots.model import Item, ScannedPage, Slot

NOW = 1_700_000_000.0


def settings_from(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "tailor.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def item(id: str, *tags: str, category: str | None = None, title: str | None = None) -> Item:
    return Item(id=id, tags=tags, category=category, title=title, url=f"/p/{id}")


def slot(name: str, type: str, items: tuple[Item, ...] = (), **kw: object) -> Slot:
    return Slot(name=name, type=type, start=0, end=1, items=items, **kw)  # type: ignore[arg-type]


def page(*slots: Slot, page_item: Item | None = None) -> ScannedPage:
    return ScannedPage(slots=slots, page_item=page_item)


def profile(vid: str = "visitor-1", *, affinities: dict[str, float] | None = None, **kw: object) -> Profile:
    aff = {tag: Score(value, NOW) for tag, value in (affinities or {}).items()}
    kw.setdefault("session", Session(number=1, started=NOW - 60, last_seen=NOW - 10))
    return Profile(vid=vid, created=NOW - 86400, affinities=aff, **kw)  # type: ignore[arg-type]


def recent(type: str, item: str | None = None, *, ago: float = 30.0, session: int = 1) -> RecentEvent:
    return RecentEvent(type=type, ts=NOW - ago, item=item, session=session)


def context(**kw: object) -> Context:
    kw.setdefault("now", NOW)
    return Context(**kw)  # type: ignore[arg-type]


def decide(
    settings: Settings,
    pg: ScannedPage,
    prof: Profile | None,
    ctx: Context | None = None,
    catalog: Catalog | None = None,
    *,
    seed: int = 1,
    arm_stats: object = None,
) -> PageDecisions:
    engine = DecisionEngine(settings)
    return engine.decide(pg, prof, ctx or context(), catalog or Catalog(), rng=random.Random(seed), arm_stats=arm_stats)  # type: ignore[arg-type]


def catalog_of(items: list[Item], popularity: dict[str, float] | None = None, **stats: object) -> Catalog:
    return Catalog(items, stats=CatalogStats(popularity=popularity or {}, **stats))  # type: ignore[arg-type]
