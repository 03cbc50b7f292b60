"""The read path: cached profiles stay exact across workers through the change board, with no SQL per cached read."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from proxy import events as ev
from proxy.clock import FakeClock
from proxy.errors import StoreError
from proxy.journal import CHANGE_BOARD_SLOTS, ChangeBoard, change_board_path
from proxy.profile_store import ProfileStore
from tests.collector.helpers import event
from tests.collector.server_app import make_settings


def page(item: str, *tags: str) -> ev.Event:
    return msgspec.convert(event("page_view", item=item, tags=list(tags)), ev.Event)  # type: ignore[arg-type]


def statements(store: ProfileStore) -> list[str]:
    """Every SQL statement the store's reader runs from now on."""
    seen: list[str] = []
    store._reader.set_trace_callback(seen.append)
    return seen


def two_workers(tmp_path: Path, scenario: Any) -> None:
    """Two stores on one data dir (each with its own writer and cache, as two worker processes have),
    on a clock that never moves: no cache entry expires, so only the change board can refresh one."""

    async def run() -> None:
        clock = FakeClock()
        settings = make_settings(str(tmp_path))
        a = await ProfileStore.open(settings, clock=clock)
        b = await ProfileStore.open(settings, clock=clock)
        try:
            await scenario(a, b, clock)
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_a_write_by_one_worker_is_read_by_the_other_at_once(tmp_path: Path) -> None:
    async def scenario(a: ProfileStore, b: ProfileStore, clock: FakeClock) -> None:
        assert await b.get("v1") is None  # cached as absent
        for n in range(1, 20):
            await a.record("v1", [page(f"i{n}", f"t{n}")], received=clock.time())
            seen = await b.get("v1")
            assert seen is not None and seen.counters.page_views == n, f"worker B missed write {n}"
            assert f"t{n}" in seen.affinities
            assert (await b.get("v1")) is seen  # and keeps it while nothing changes
            await b.record("v1", [msgspec.convert(event("click", item="x"), ev.Event)], received=clock.time())  # type: ignore[arg-type]
            again = await a.get("v1")
            assert again is not None and again.counters.clicks == n

    two_workers(tmp_path, scenario)


def test_a_cached_read_runs_no_sql_and_another_visitors_write_keeps_it(tmp_path: Path) -> None:
    async def scenario(a: ProfileStore, b: ProfileStore, clock: FakeClock) -> None:
        await a.record("reader", [page("i0", "t0")], received=clock.time())
        first = await b.get("reader")
        ran = statements(b)
        for n in range(50):
            await a.record(f"other-{n}", [page("i1", "t1")], received=clock.time())  # every commit elsewhere
            assert (await b.get("reader")) is first
        assert ran == [], "a cached read queried the database"
        await a.record("reader", [page("i2", "t2")], received=clock.time())
        fresh = await b.get("reader")
        assert fresh is not None and fresh.counters.page_views == 2
        assert len(ran) == 2  # the alias and the profile, once

    two_workers(tmp_path, scenario)


def test_linking_and_deleting_by_one_worker_is_read_by_the_other(tmp_path: Path) -> None:
    async def scenario(a: ProfileStore, b: ProfileStore, clock: FakeClock) -> None:
        await a.record("phone", [page("boot", "hiking")], received=clock.time())
        await a.record("laptop", [page("tent", "camping")], received=clock.time())
        phone, laptop = await b.get("phone"), await b.get("laptop")
        assert phone is not None and laptop is not None and phone.vid != laptop.vid
        await a.link_customer("phone", "cust-1")
        await a.link_customer("laptop", "cust-1")
        merged_phone, merged_laptop = await b.get("phone"), await b.get("laptop")
        assert merged_phone is not None and merged_phone.customer == "cust-1"
        assert merged_laptop == merged_phone and set(merged_phone.affinities) == {"hiking", "camping"}
        await a.record("laptop", [page("stove", "cooking")], received=clock.time())  # lands in the customer's profile
        assert "cooking" in (await b.get("phone")).affinities  # type: ignore[union-attr]
        await a.delete_visitor("phone")
        assert await b.get("phone") is None
        assert await b.get("laptop") is None

    two_workers(tmp_path, scenario)


def test_retention_by_one_worker_is_read_by_the_other(tmp_path: Path) -> None:
    async def scenario(a: ProfileStore, b: ProfileStore, clock: FakeClock) -> None:
        await a.record("old", [page("i0")], received=clock.time())
        assert await b.get("old") is not None
        assert await a.expire(clock.time() + 10_000 * 86_400.0) == 1
        assert await b.get("old") is None

    two_workers(tmp_path, scenario)


def test_each_mark_stamps_a_slot_with_a_value_it_never_held(tmp_path: Path) -> None:
    writer_a = ChangeBoard(tmp_path / "board", slots=1)  # one slot: every visitor shares it
    writer_b = ChangeBoard(tmp_path / "board", slots=1)
    reader = ChangeBoard(tmp_path / "board", slots=1)
    try:
        seen = {reader.stamp("x")}
        for n in range(200):
            (writer_a if n % 3 else writer_b).mark(["x", "y", "x"])
            stamp = reader.stamp("anyone")
            assert stamp not in seen
            seen.add(stamp)
    finally:
        for board in (writer_a, writer_b, reader):
            board.close()


def test_a_short_board_file_grows_a_long_one_is_kept_and_bad_paths_fail_clearly(tmp_path: Path) -> None:
    path = change_board_path(str(tmp_path))
    path.write_bytes(b"\xff" * 100)  # truncated
    board = ChangeBoard(path)
    try:
        assert os.path.getsize(path) == CHANGE_BOARD_SLOTS * 8
        board.mark(["v"])
        assert board.stamp("v") != 0
    finally:
        board.close()
    small = ChangeBoard(path, slots=8)  # a board mapped with fewer slots never shrinks the file under the others
    try:
        assert os.path.getsize(path) == CHANGE_BOARD_SLOTS * 8
        small.mark(["v"])
        assert small.stamp("v") != 0
    finally:
        small.close()
    with pytest.raises(StoreError, match="cannot map the change board"):
        ChangeBoard(tmp_path / "missing-dir" / "board")
    with pytest.raises(ValueError, match="power of two"):
        ChangeBoard(tmp_path / "b", slots=3)


def test_a_cached_profile_is_read_again_after_its_ttl(tmp_path: Path) -> None:
    async def scenario(a: ProfileStore, b: ProfileStore, clock: FakeClock) -> None:
        await a.record("v", [page("i0")], received=clock.time())
        first = await b.get("v")
        ran = statements(b)
        clock.tick(b.settings.profiles.l1_ttl_seconds / 2)
        assert await b.get("v") is first and ran == []
        clock.tick(b.settings.profiles.l1_ttl_seconds)
        again = await b.get("v")
        assert again == first and again is not first and len(ran) == 2

    two_workers(tmp_path, scenario)


def test_the_cache_keeps_at_most_its_size_oldest_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("proxy.profile_store.L1_MAX_PROFILES", 3)

    async def scenario(a: ProfileStore, b: ProfileStore, clock: FakeClock) -> None:
        for n in range(5):
            await a.record(f"v{n}", [page(f"i{n}")], received=clock.time())
            await b.get(f"v{n}")
        assert list(b._l1) == ["v2", "v3", "v4"]
        ran = statements(b)
        assert (await b.get("v4")) is not None and ran == []
        assert (await b.get("v0")) is not None and len(ran) == 2  # evicted: read again

    two_workers(tmp_path, scenario)


def test_a_closed_store_refuses_reads_clearly(tmp_path: Path) -> None:
    async def run() -> None:
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=FakeClock())
        await store.record("v", [page("i0")], received=1.0)
        assert await store.get("v") is not None
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.get("v")

    asyncio.run(run())
