"""Group commit: batched records share one transaction, a bad job fails alone, old journals migrate."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from proxy import events as ev
from proxy.clock import FakeClock
from proxy.errors import StoreError
from proxy.journal import GroupCommitWriter, create_schema, db_path
from proxy.profile_store import ProfileStore, iter_events
from tests.collector.helpers import event, stored_ids
from tests.collector.server_app import make_settings


def page(item: str, event_id: str | None = None) -> ev.Event:
    return msgspec.convert(event("page_view", item=item, tags=["t"], id=event_id), ev.Event)  # type: ignore[arg-type]


def test_concurrent_records_of_one_visitor_fold_into_one_profile(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        try:
            shared = page("dup").id
            results = await asyncio.gather(
                *(store.record("v1", [page(f"i{n}"), page("dup", shared)], received=clock.time()) for n in range(40)),
                store.record("v2", [page("other")], received=clock.time()),
            )
            assert store._writer.commits < 41  # they rode shared commits
            assert sum(r.accepted for r in results) == 40 + 1 + 1  # the shared id counts once
            assert sum(r.duplicates for r in results) == 39
            profile = await store.get("v1")
            assert profile is not None and profile.counters.page_views == 41
            assert (await store.get("v2")).counters.page_views == 1  # type: ignore[union-attr]
        finally:
            await store.close()
        ids = stored_ids(str(tmp_path))
        assert len(ids) == len(set(ids)) == 42

    asyncio.run(scenario())


def test_a_failing_batched_job_fails_alone(tmp_path: Path) -> None:
    path = db_path(str(tmp_path))
    create_schema(path)

    def insert_all(conn: sqlite3.Connection, payloads: list[Any]) -> list[Any]:
        for payload in payloads:
            if payload == "bad":
                raise ValueError("bad payload")
            conn.execute("INSERT INTO items (id, body) VALUES (?, x'00')", (payload,))
        return [f"ok {p}" for p in payloads]

    async def scenario() -> list[Any]:
        writer = GroupCommitWriter(path)
        try:
            return await asyncio.gather(*(writer.submit_batched(insert_all, p) for p in ["a", "b", "bad", "c"]), return_exceptions=True)
        finally:
            writer.close()

    results = asyncio.run(scenario())
    assert results[:2] == ["ok a", "ok b"] and results[3] == "ok c"
    assert isinstance(results[2], StoreError) and "bad payload" in str(results[2])
    conn = sqlite3.connect(path)
    try:
        assert sorted(row[0] for row in conn.execute("SELECT id FROM items")) == ["a", "b", "c"]
    finally:
        conn.close()


def test_journal_with_one_row_per_event_is_migrated(tmp_path: Path) -> None:
    path = db_path(str(tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, vid TEXT NOT NULL, received REAL NOT NULL, body BLOB NOT NULL);"
    )
    old = [page("a"), page("b")]
    conn.executemany("INSERT INTO events (id, vid, received, body) VALUES (?, ?, ?, ?)", [(e.id, "v1", 5.0, msgspec.json.encode(e)) for e in old])
    conn.commit()
    conn.close()
    create_schema(path)
    assert [(vid, received, e) for vid, received, e in iter_events(path)] == [("v1", 5.0, old[0]), ("v1", 5.0, old[1])]

    async def replay() -> None:
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=FakeClock())
        try:
            result = await store.record("v1", old, received=6.0)
            assert (result.accepted, result.duplicates) == (0, 2)
        finally:
            await store.close()

    asyncio.run(replay())


@pytest.mark.parametrize("n", [1, 501])
def test_many_ids_in_one_record(tmp_path: Path, n: int) -> None:
    async def scenario() -> None:
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=FakeClock())
        try:
            events = [page(f"i{k}") for k in range(n)]
            assert (await store.record("v1", events, received=1.0)).accepted == n
            assert (await store.record("v1", events, received=2.0)).duplicates == n
        finally:
            await store.close()

    asyncio.run(scenario())
