"""The journal process: acks only after commit, a dead one fails clearly and is replaced, close loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import msgspec
import pytest

from proxy import events as ev
from proxy.clock import FakeClock
from proxy.errors import StoreError
from proxy.journal import db_path
from proxy.profile_store import ProfileStore
from tests.collector.helpers import event, stored_ids
from tests.collector.server_app import make_settings


def page(item: str) -> ev.Event:
    return msgspec.convert(event("page_view", item=item), ev.Event)  # type: ignore[arg-type]


def test_a_killed_journal_process_fails_its_requests_and_the_next_record_starts_another(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        blocker = sqlite3.connect(db_path(str(tmp_path)), isolation_level=None)
        try:
            assert (await store.record("v1", [page("a")], received=clock.time())).accepted == 1
            journal = store._journal
            assert journal is not None and journal.pid is not None
            first = journal.pid
            blocker.execute("BEGIN IMMEDIATE")  # the journal process waits for the lock with "b" in hand
            in_flight = asyncio.ensure_future(store.record("v1", [page("b")], received=clock.time()))
            await asyncio.sleep(0.1)
            assert not in_flight.done()
            os.kill(first, signal.SIGKILL)
            with pytest.raises(StoreError, match="journal process exited"):
                await in_flight  # never acknowledged: the tag will send it again
            blocker.execute("ROLLBACK")
            result = await store.record("v1", [page("c")], received=clock.time())
            assert result.accepted == 1 and journal.pid != first
            profile = await store.get("v1")
            assert profile is not None and [r.item for r in profile.recent] == ["a", "c"]
        finally:
            blocker.close()
            await store.close()
        assert len(stored_ids(str(tmp_path))) == 2

    asyncio.run(scenario())


def test_closing_the_store_answers_every_record_in_flight(tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        records = [asyncio.ensure_future(store.record(f"v{n % 10}", [page(f"i{n}")], received=clock.time())) for n in range(200)]
        await asyncio.sleep(0)  # every frame is written
        await store.close()
        results = await asyncio.gather(*records)
        return [result.accepted for result in results]

    assert asyncio.run(scenario()) == [1] * 200
    assert len(stored_ids(str(tmp_path))) == 200


def test_records_after_close_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.record("v1", [page("a")], received=clock.time())

    asyncio.run(scenario())
