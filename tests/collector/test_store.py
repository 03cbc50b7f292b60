"""ProfileStore: read-your-writes across processes, customers, delete/export, retention, catalog."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import msgspec

from proxy import events as ev
from proxy.clock import FakeClock
from proxy.identity import COOKIE_NAME
from proxy.profile_store import ProfileStore, customer_key
from slots.model import Item
from tests.collector.conftest import BROWSER, HEADERS
from tests.collector.server_app import make_settings
from tests.collector.helpers import beacon, event

DAY = 86_400.0


def test_read_your_writes_across_two_worker_processes(spawn: Any) -> None:
    a = spawn()
    b = spawn()  # same data_dir: two workers
    with httpx.Client(base_url=a.url, headers=HEADERS) as to_a:
        first = to_a.post("/_tailor/e", content=beacon(event("page_view", item="i0")))
        cookie = {"cookie": f"{COOKIE_NAME}={first.cookies[COOKIE_NAME]}"}
        with httpx.Client(base_url=b.url, headers={**HEADERS, **cookie}) as to_b:
            for n in range(1, 30):
                assert to_b.get("/_test/profile").json()["profile"]["counters"]["page_views"] == n  # B caches it now
                response = to_a.post("/_tailor/e", content=beacon(event("page_view", item=f"i{n}", tags=[f"t{n}"])))
                assert response.status_code == 200
                seen = to_b.get("/_test/profile").json()["profile"]
                assert seen["counters"]["page_views"] == n + 1, f"worker B did not see write {n}"
                assert f"t{n}" in seen["affinities"]
                # and the other way round
                assert to_b.post("/_tailor/e", content=beacon(event("click", item="x"))).status_code == 200
                assert to_a.get("/_test/profile", headers=cookie).json()["profile"]["counters"]["clicks"] == n


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def page(item: str, tags: tuple[str, ...] = ()) -> ev.PageView:
    return msgspec.convert(event("page_view", item=item, tags=list(tags)), ev.Event)  # type: ignore[arg-type]


def test_customer_linking_merges_devices(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        try:
            await store.record("phone", [page("boot", ("hiking",))], received=clock.time())
            await store.record("laptop", [page("tent", ("camping",)), page("stove", ("camping",))], received=clock.time())
            await store.link_customer("phone", "cust-42")
            await store.link_customer("laptop", "cust-42")
            for vid in ("phone", "laptop"):
                merged = await store.get(vid)
                assert merged is not None and merged.customer == "cust-42" and merged.vid == customer_key("cust-42")
                assert merged.counters.page_views == 3 and set(merged.affinities) == {"hiking", "camping"}
            # later events of either device land in the customer's profile
            await store.record("phone", [page("boot")], received=clock.time())
            assert (await store.get("laptop")).counters.page_views == 4  # type: ignore[union-attr]
            # linking again is a no-op; another customer on the same phone gets their own profile, no merge
            await store.link_customer("phone", "cust-42")
            await store.link_customer("phone", "cust-7")
            other = await store.get("phone")
            assert other is not None and other.customer == "cust-7" and other.counters.page_views == 0
            assert (await store.get("laptop")).counters.page_views == 4  # type: ignore[union-attr]
        finally:
            await store.close()

    _run(scenario())


def test_delete_and_export_visitor(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        try:
            events = [page("boot", ("hiking",)), page("tent")]
            await store.record("v1", events, received=clock.time())
            await store.record("v2", [page("other")], received=clock.time())
            exported = await store.export_visitor("v1")
            assert exported["profile"]["counters"]["page_views"] == 2
            assert [e["event"]["id"] for e in exported["events"]] == [e.id for e in events]
            assert await store.delete_visitor("v1") == 2
            assert await store.get("v1") is None
            assert (await store.export_visitor("v1"))["events"] == []
            assert [vid for vid, _, _ in store.iter_events()] == ["v2"]
            out = io.StringIO()
            assert store.export_ndjson(out) == 1 and '"other"' in out.getvalue()
        finally:
            await store.close()

    _run(scenario())


def test_retention_expires_old_visitors_and_events(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        settings = make_settings(str(tmp_path))
        store = await ProfileStore.open(settings, clock=clock)
        try:
            await store.record("old", [page("a")], received=clock.time())
            clock.tick(100 * DAY)
            await store.record("new", [page("b")], received=clock.time())
            assert await store.get("old") is not None
            clock.tick(settings.profiles.retention_days * DAY - 50 * DAY)
            assert await store.expire(clock.time()) == 1
            assert await store.get("old") is None and await store.get("new") is not None
            assert [vid for vid, _, _ in store.iter_events()] == ["new"]
        finally:
            await store.close()

    _run(scenario())


def test_catalog_stats_popularity_coviews_repurchase(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        try:
            for vid in ("v1", "v2"):
                await store.record(vid, [page("boot"), page("sock")], received=clock.time())
            await store.record("v3", [page("boot")], received=clock.time())
            buy = lambda: msgspec.convert(event("purchase", items=[{"item": "coffee", "price": 5}]), ev.Event)  # noqa: E731
            await store.record("v1", [buy()], received=clock.time())
            clock.tick(10 * DAY)
            await store.record("v1", [buy()], received=clock.time())
            stats = await store.catalog_stats()
            assert stats.popularity["boot"] > stats.popularity["sock"] > 0
            assert stats.coviews["boot"] == {"sock": 2.0} and stats.coviews["sock"] == {"boot": 2.0}
            assert round(stats.repurchase_days["coffee"]) == 10
        finally:
            await store.close()

    _run(scenario())


def _catalog_tables(data_dir: str) -> tuple[dict[str, float], dict[tuple[str, str], float], int, int]:
    """What the catalog tables hold: popularity, co-views, the last beacon folded into them, the last beacon."""
    import sqlite3

    from proxy.journal import db_path

    conn = sqlite3.connect(db_path(data_dir))
    try:
        popularity = dict(conn.execute("SELECT item, value FROM popularity").fetchall())
        coviews = {(a, b): w for a, b, w in conn.execute("SELECT a, b, weight FROM coviews").fetchall()}
        (folded,) = conn.execute("SELECT seq FROM catalog_folded").fetchone()
        (last,) = conn.execute("SELECT max(seq) FROM beacons").fetchone()
        return popularity, coviews, folded, last
    finally:
        conn.close()


def test_catalog_facts_wait_in_their_beacons_and_are_folded_once(tmp_path: Path) -> None:
    """A beacon's catalog facts commit with it (in its row); a writer adds them to the catalog tables at
    most once a second, in one pass. Readers count the ones still waiting; none is counted twice."""
    data_dir = str(tmp_path)

    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(data_dir), clock=clock)
        try:
            await store.record("v0", [page("hat")], received=clock.time())  # a writer's first commit folds
            for vid in ("v1", "v2"):
                await store.record(vid, [page("boot"), page("sock")], received=clock.time())
            popularity, coviews, folded, last = _catalog_tables(data_dir)
            assert popularity == {"hat": 1.0} and coviews == {} and folded < last  # waiting in the beacons
            stats = await store.catalog_stats()
            assert stats.coviews["boot"] == {"sock": 2.0} and stats.coviews["sock"] == {"boot": 2.0}
            assert round(stats.popularity["boot"], 6) == 2.0 and round(stats.popularity["hat"], 6) == 1.0
            for _ in range(2):  # two folds: the second finds nothing new to add
                clock.tick(6)  # past the fold interval and the readers' catalog cache
                await store.record("v3", [page("boot")], received=clock.time())
                popularity, coviews, folded, last = _catalog_tables(data_dir)
                assert folded == last
                assert coviews == {("boot", "sock"): 2.0, ("sock", "boot"): 2.0}
                stats = await store.catalog_stats()
                assert stats.coviews["boot"] == {"sock": 2.0}
            assert round(popularity["boot"], 3) == 4.0 and round(stats.popularity["boot"], 3) == 4.0
        finally:
            await store.close()

    _run(scenario())


def test_a_backlog_of_catalog_facts_is_folded_a_bounded_chunk_per_commit(tmp_path: Path) -> None:
    """Each commit folds at most FOLD_MAX_BEACONS beacons' facts (a bounded stall), and the next ones go on until none wait."""
    from proxy.profile_store import FOLD_MAX_BEACONS

    data_dir = str(tmp_path)

    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(data_dir), clock=clock)
        try:
            await store.record("v0", [page("hat")], received=clock.time())  # the first commit folds
            for n in range(FOLD_MAX_BEACONS + 8):
                await store.record(f"v{n}", [page("boot")], received=clock.time())
            clock.tick(2)
            await store.record("late", [page("sock")], received=clock.time())  # folds the oldest chunk only
            popularity, _, folded, last = _catalog_tables(data_dir)
            assert round(popularity["boot"], 6) == FOLD_MAX_BEACONS and folded < last
            await store.record("later", [page("sock")], received=clock.time())  # and the rest, no time needed
            popularity, _, folded, last = _catalog_tables(data_dir)
            assert folded == last
            assert round(popularity["boot"], 3) == FOLD_MAX_BEACONS + 8 and round(popularity["sock"], 3) == 2
            assert round((await store.catalog_stats()).popularity["boot"], 3) == FOLD_MAX_BEACONS + 8
        finally:
            await store.close()

    _run(scenario())


def test_waiting_catalog_facts_outlive_a_restart_and_a_deleted_visitor(tmp_path: Path) -> None:
    data_dir = str(tmp_path)

    async def record_then_close() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(data_dir), clock=clock)
        try:
            await store.record("v0", [page("hat")], received=clock.time())
            for vid in ("v1", "v2"):
                await store.record(vid, [page("boot"), page("sock")], received=clock.time())
        finally:
            await store.close()

    async def reopen() -> None:
        store = await ProfileStore.open(make_settings(data_dir), clock=FakeClock())
        try:
            assert (await store.catalog_stats()).coviews["boot"] == {"sock": 2.0}  # still waiting, still counted
            await store.delete_visitor("v1")  # folds first: deleting beacons takes nothing back
            popularity, coviews, folded, last = _catalog_tables(data_dir)
            assert coviews == {("boot", "sock"): 2.0, ("sock", "boot"): 2.0} and folded >= last
            assert round(popularity["boot"], 6) == 2.0
        finally:
            await store.close()

    _run(record_then_close())
    assert _catalog_tables(data_dir)[1] == {}
    _run(reopen())


def test_observe_items_writes_only_changes(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = make_settings(str(tmp_path))
        store = await ProfileStore.open(settings)
        items = [Item(id="a", tags=("x",), title="A"), Item(id="b")]
        await store.observe_items(items)
        await store.observe_items(items)
        await store.observe_items([Item(id="a", tags=("x",), title="A, renamed")])
        await store.close()  # flushes the writer
        reopened = await ProfileStore.open(settings)
        try:
            assert sorted((i.id, i.title) for i in await reopened.items()) == [("a", "A, renamed"), ("b", None)]
        finally:
            await reopened.close()

    _run(scenario())


def test_gpc_record_ignores_behaviour(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await ProfileStore.open(make_settings(str(tmp_path)))
        try:
            result = await store.record("v", [page("a", ("t",))], received=1.0, gpc=True)
            assert (result.accepted, result.ignored) == (0, 1)
            p = await store.get("v")
            assert p is not None and p.gpc and p.affinities == {}
            assert list(store.iter_events()) == []
        finally:
            await store.close()

    _run(scenario())


def test_identity_secret_is_shared_and_private(tmp_path: Path) -> None:
    import os
    import stat

    from proxy.identity import VisitorIds, load_or_create_secret

    first = load_or_create_secret(str(tmp_path))
    assert load_or_create_secret(str(tmp_path)) == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600
    ids = VisitorIds(first)
    vid = ids.new()
    header = ids.set_cookie(vid, secure=True)
    assert header.endswith("; Secure") and "HttpOnly" in header
    value = header.split(";")[0].split("=", 1)[1]
    assert ids.read(f"other=1; {COOKIE_NAME}={value}; x=y") == vid
    assert VisitorIds(b"another-secret-of-enough-length").read(f"{COOKIE_NAME}={value}") is None
    for hostile in [None, "", ";;;", f"{COOKIE_NAME}=", f"{COOKIE_NAME}=\udcff", f"{COOKIE_NAME}=" + "é" * 45, "=" * 1000]:
        assert ids.read(hostile) is None
    assert BROWSER
