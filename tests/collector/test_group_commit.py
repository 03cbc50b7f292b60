"""Group commit: batched records share one transaction, a bad job fails alone, old journals migrate."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

from proxy import events as ev
from proxy.clock import FakeClock
from proxy.errors import StoreError
from proxy.journal import CHECKPOINTER_NICENESS, ChangeBoard, GroupCommitWriter, change_board_path, connect, create_schema, db_path, event_hash
from proxy.profile_model import Profile
from proxy.profile_store import ProfileStore, iter_events
from proxy.settings import Settings
from tests.collector.helpers import event, stored_ids
from tests.collector.server_app import make_settings


def page(item: str, event_id: str | None = None) -> ev.Event:
    return msgspec.convert(event("page_view", item=item, tags=["t"], id=event_id), ev.Event)  # type: ignore[arg-type]


async def in_process_store(settings: Settings, clock: FakeClock) -> ProfileStore:
    """A store whose `record`s run in this process's writer thread instead of the journal process:
    the same batch function and writer cache (`_WriterProfiles`) the journal process runs, next to
    jobs a test can slip into the same transaction (blockers, failing statements)."""
    path = db_path(settings.proxy.data_dir)
    await asyncio.to_thread(create_schema, path)
    writer = await asyncio.to_thread(GroupCommitWriter, path)
    board = ChangeBoard(change_board_path(settings.proxy.data_dir))
    return ProfileStore(settings, path, writer, connect(path, readonly=True), clock, board)


def test_concurrent_records_of_one_visitor_fold_into_one_profile(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        try:
            shared = page("dup")  # one event, sent again in every beacon (as the tag's retries do)
            results = await asyncio.gather(
                *(store.record("v1", [page(f"i{n}"), shared], received=clock.time()) for n in range(40)),
                store.record("v2", [page("other")], received=clock.time()),
            )
            assert store.journal_commits < 41  # they rode shared commits
            assert sum(r.accepted for r in results) == 40 + 1 + 1  # the shared event counts once
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


def test_a_failing_job_in_a_shared_commit_is_undone_and_its_neighbours_commit(tmp_path: Path) -> None:
    """Commits run without savepoints first; a failing job sends the whole batch round again, each job in its own."""
    path = db_path(str(tmp_path))
    create_schema(path)
    started, gate = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait(10)

    def insert(name: str) -> Any:
        def job(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO items (id, body) VALUES (?, x'00')", (name,))
            if name == "bad":
                raise ValueError("bad job")
            return name

        return job

    async def scenario() -> tuple[list[Any], int]:
        writer = GroupCommitWriter(path, checkpoints=False)
        try:
            held = asyncio.ensure_future(writer.submit(hold))
            await asyncio.to_thread(started.wait, 10)
            queued = [asyncio.ensure_future(writer.submit(insert(name))) for name in ["a", "bad", "c"]]
            await asyncio.sleep(0)  # the three are queued behind the held commit, so they share the next one
            gate.set()
            await held
            return await asyncio.gather(*queued, return_exceptions=True), writer.commits
        finally:
            writer.close()

    results, commits = asyncio.run(scenario())
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], StoreError) and "bad job" in str(results[1])
    assert commits == 2  # the held one, then one for all three
    conn = sqlite3.connect(path)
    try:
        assert sorted(row[0] for row in conn.execute("SELECT id FROM items")) == ["a", "c"]
    finally:
        conn.close()


def test_beacons_from_before_catalog_facts_are_migrated(tmp_path: Path) -> None:
    """Their facts went to the catalog tables when they were journalled: the first fold starts after them."""
    path = db_path(str(tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE beacons (seq INTEGER PRIMARY KEY, vid TEXT NOT NULL, received REAL NOT NULL, n INTEGER NOT NULL, body BLOB NOT NULL);"
        "CREATE TABLE popularity (item TEXT PRIMARY KEY, value REAL NOT NULL, ts REAL NOT NULL) WITHOUT ROWID;"
    )
    then = FakeClock().time()
    conn.execute("INSERT INTO popularity VALUES ('boot', 1.0, ?)", (then,))
    conn.execute("INSERT INTO beacons (vid, received, n, body) VALUES ('v1', ?, 1, ?)", (then, msgspec.json.encode([page("boot")])))
    conn.commit()
    conn.close()
    create_schema(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT seq, facts FROM beacons").fetchall() == [(1, None)]
        assert conn.execute("SELECT seq FROM catalog_folded").fetchall() == [(1,)]
    finally:
        conn.close()

    async def record() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        try:
            await store.record("v2", [page("boot")], received=clock.time())
            assert round((await store.catalog_stats()).popularity["boot"], 6) == 2.0  # the old beacon counted once
        finally:
            await store.close()

    asyncio.run(record())


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


def test_journal_keyed_by_event_id_alone_is_migrated(tmp_path: Path) -> None:
    """Journals from before (ts, id) keys: every journalled event still counts as a duplicate when replayed."""
    path = db_path(str(tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    old = [page("a"), page("b"), page("c")]
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE beacons (seq INTEGER PRIMARY KEY, vid TEXT NOT NULL, received REAL NOT NULL, n INTEGER NOT NULL, body BLOB NOT NULL);"
        "CREATE TABLE event_ids (id TEXT PRIMARY KEY) WITHOUT ROWID;"
    )
    conn.execute("INSERT INTO beacons (vid, received, n, body) VALUES ('v1', 5.0, 2, ?)", (msgspec.json.encode(old[:2]),))
    conn.execute("INSERT INTO beacons (vid, received, n, body) VALUES ('v2', 5.0, 1, ?)", (msgspec.json.encode(old[2:]),))
    conn.executemany("INSERT INTO event_ids (id) VALUES (?)", [(e.id,) for e in old])
    conn.commit()
    conn.close()

    async def replay() -> None:
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=FakeClock())
        try:
            result = await store.record("v1", [*old, page("d")], received=6.0)
            assert (result.accepted, result.duplicates) == (1, 3)
        finally:
            await store.close()

    asyncio.run(replay())
    assert len(stored_ids(str(tmp_path))) == 4
    conn = sqlite3.connect(path)
    try:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'event_ids'").fetchall()
    finally:
        conn.close()


def test_journal_keyed_by_id_text_is_migrated_to_hashes(tmp_path: Path) -> None:
    """Journals keyed by (ts, id text): the keys become (ts, hash of id) and replays still count as duplicates."""
    path = db_path(str(tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    old = [page("a"), page("b"), page("c")]
    new = page("d")
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE beacons (seq INTEGER PRIMARY KEY, vid TEXT NOT NULL, received REAL NOT NULL, n INTEGER NOT NULL, body BLOB NOT NULL);"
        "CREATE TABLE event_keys (ts REAL NOT NULL, id TEXT NOT NULL, PRIMARY KEY (ts, id)) WITHOUT ROWID;"
    )
    conn.execute("INSERT INTO beacons (vid, received, n, body) VALUES ('v1', 5.0, 3, ?)", (msgspec.json.encode(old),))
    conn.executemany("INSERT INTO event_keys (ts, id) VALUES (?, ?)", [(e.ts, e.id) for e in old])
    conn.commit()
    conn.close()

    async def replay() -> None:
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=FakeClock())
        try:
            result = await store.record("v1", [*old[1:], new], received=6.0)
            assert (result.accepted, result.duplicates) == (1, 2)
        finally:
            await store.close()

    asyncio.run(replay())
    assert stored_ids(str(tmp_path)) == [e.id for e in [*old, new]]
    conn = sqlite3.connect(path)
    try:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'event_keys'").fetchall()
        assert sorted(h for (h,) in conn.execute("SELECT h FROM event_hashes")) == sorted(event_hash(e.id) for e in [*old, new])
    finally:
        conn.close()


def test_event_hash_is_the_ids_64_bit_blake2b() -> None:
    """The stored key must not change between versions or processes (not Python's salted hash())."""
    assert event_hash("1_2_3_4") == int.from_bytes(hashlib.blake2b(b"1_2_3_4", digest_size=8).digest(), "little", signed=True)
    assert -(2**63) <= event_hash("x" * 64) < 2**63
    assert event_hash("a") != event_hash("b")


def test_an_event_is_known_by_its_id_and_timestamp(tmp_path: Path) -> None:
    """A retry resends the event unchanged (a duplicate); the same id at another time is another event."""

    async def scenario() -> None:
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=FakeClock())
        try:
            first = page("a")
            assert (await store.record("v1", [first], received=1.0)).accepted == 1
            assert (await store.record("v1", [msgspec.structs.replace(first)], received=2.0)).duplicates == 1
            later = msgspec.structs.replace(first, ts=first.ts + 1)
            assert (await store.record("v1", [later], received=3.0)).accepted == 1
        finally:
            await store.close()

    asyncio.run(scenario())


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


# ---- the writer's decoded profiles (kept between commits) never serve uncommitted or stale state ----


def test_a_fold_undone_by_a_rollback_is_not_remembered(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await in_process_store(make_settings(str(tmp_path)), clock)
        try:
            await store.record("v1", [page("a")], received=clock.time())  # the writer now holds v1's profile
            started, gate = threading.Event(), threading.Event()
            blocker = asyncio.ensure_future(store._writer.submit(lambda conn: started.set() or gate.wait(10)))
            assert await asyncio.to_thread(started.wait, 10)  # the writer is busy: what follows shares the next commit
            doomed = asyncio.ensure_future(store.record("v1", [page("b"), page("c")], received=clock.time()))
            # an I/O-class error later in the same transaction rolls all of it back
            breaker = asyncio.ensure_future(store._writer.submit(lambda conn: conn.execute("INSERT INTO no_such_table VALUES (1)")))
            await asyncio.sleep(0)  # both are queued
            gate.set()
            assert await blocker
            for future in (doomed, breaker):
                with pytest.raises(StoreError):
                    await future
            await store.record("v1", [page("d")], received=clock.time())
            profile = await store.get("v1")
            assert profile is not None and profile.counters.page_views == 2  # a and d; b and c never committed
            assert [r.item for r in profile.recent] == ["a", "d"]
        finally:
            await store.close()
        assert len(stored_ids(str(tmp_path))) == 2

    asyncio.run(scenario())


def test_profiles_rewritten_by_link_delete_or_expire_are_read_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        try:
            await store.record("phone", [page("a")], received=clock.time())
            await store.link_customer("phone", "cust")
            await store.record("phone", [page("b")], received=clock.time())  # the writer holds the customer's profile
            await store.record("laptop", [page("c"), page("d")], received=clock.time())
            await store.link_customer("laptop", "cust")  # merges laptop into it, behind the writer's back
            await store.record("phone", [page("e")], received=clock.time())
            assert (await store.get("laptop")).counters.page_views == 5  # type: ignore[union-attr]

            await store.record("gone", [page("x"), page("y")], received=clock.time())
            await store.delete_visitor("gone")
            await store.record("gone", [page("z")], received=clock.time())
            assert (await store.get("gone")).counters.page_views == 1  # type: ignore[union-attr]

            await store.record("old", [page("x")], received=clock.time())
            clock.tick(store.settings.profiles.retention_days * 86_400.0 + 1)
            assert await store.expire(clock.time()) >= 1
            await store.record("old", [page("y")], received=clock.time())
            assert (await store.get("old")).counters.page_views == 1  # type: ignore[union-attr]
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_commit_by_another_connection_is_seen_by_the_next_record(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=clock)
        try:
            await store.record("v1", [page("a")], received=clock.time())
            other = sqlite3.connect(db_path(str(tmp_path)))  # another worker process, as far as SQLite knows
            try:
                body = other.execute("SELECT body FROM profiles WHERE vid = 'v1'").fetchone()[0]
                profile = msgspec.msgpack.decode(body, type=Profile)
                profile.counters.clicks = 41
                other.execute("UPDATE profiles SET body = ? WHERE vid = 'v1'", (msgspec.msgpack.encode(profile),))
                other.commit()
            finally:
                other.close()
            await store.record("v1", [msgspec.convert(event("click", item="i"), ev.Event)], received=clock.time())
            stored = await store.get("v1")
            assert stored is not None and stored.counters.clicks == 42 and stored.counters.page_views == 1
        finally:
            await store.close()

    asyncio.run(scenario())


def test_the_wal_restarts_under_continuous_writes(tmp_path: Path) -> None:
    """The checkpointer never catches up while we commit; the writer finishes its passes, so the WAL starts over."""
    path = db_path(str(tmp_path))
    create_schema(path)
    wal = path.with_name(path.name + "-wal")
    blob = bytes(1_000)

    async def scenario() -> set[bytes]:
        writer = GroupCommitWriter(path, restart_wal_frames=1)  # finish every pass (by default: only long WALs)
        salts: set[bytes] = set()  # a WAL header gets new salts each time the log restarts
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20  # a guard: the loop ends after the checkpointer's sixth pass
            n = 0
            while writer._committer._checkpointer.passes < 6 and loop.time() < deadline:
                batch = [writer.submit(lambda conn, k=n + i: conn.execute("INSERT OR REPLACE INTO items (id, body) VALUES (?, ?)", (f"i{k % 5000}", blob))) for i in range(4)]
                await asyncio.gather(*batch)
                n += 4
                with wal.open("rb") as header:
                    salts.add(header.read(24)[16:24])
        finally:
            writer.close()
        return salts

    salts = asyncio.run(scenario())
    assert len(salts) >= 5, f"the WAL restarted {len(salts) - 1} times in six checkpoints"


def test_the_writer_checkpoints_only_a_long_wal(tmp_path: Path) -> None:
    """The writer's stall (copy + fsyncs) comes only once the WAL is restart_wal_frames long, then the WAL starts over."""
    path = db_path(str(tmp_path))
    create_schema(path)
    wal = path.with_name(path.name + "-wal")
    blob = bytes(1_000)
    restart_frames = 2_000

    async def scenario() -> tuple[bool, int]:
        writer = GroupCommitWriter(path, restart_wal_frames=restart_frames)
        longest_before_restart = 0
        restarted = False
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            n = 0
            first_salt = None
            while loop.time() < deadline:
                await asyncio.gather(*(writer.submit(lambda conn, k=n + i: conn.execute("INSERT OR REPLACE INTO items (id, body) VALUES (?, ?)", (f"i{k % 5000}", blob))) for i in range(4)))
                n += 4
                with wal.open("rb") as header:
                    salt = header.read(24)[16:24]
                if first_salt is None:
                    first_salt = salt
                if salt != first_salt:
                    restarted = True  # by the writer's finishing step, or the checkpointer's last pass caught up
                    break
                longest_before_restart = max(longest_before_restart, wal.stat().st_size)
        finally:
            writer.close()
        return restarted, longest_before_restart

    restarted, longest = asyncio.run(scenario())
    assert restarted, "the WAL never restarted"
    assert longest >= restart_frames * 4096, f"the writer restarted a WAL of {longest} bytes"


def test_profiles_kept_without_rowid_are_migrated(tmp_path: Path) -> None:
    """Journals from before rowid profiles (a WITHOUT ROWID table spilled every profile over 1 KB into overflow pages)."""
    path = db_path(str(tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    old = Profile(vid="v1", created=1.0, updated=2.0, customer="x" * 3_000)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE profiles (vid TEXT PRIMARY KEY, updated REAL NOT NULL, body BLOB NOT NULL) WITHOUT ROWID")
    conn.execute("INSERT INTO profiles VALUES ('v1', 2.0, ?)", (msgspec.msgpack.encode(old),))
    conn.commit()
    conn.close()

    async def scenario() -> None:
        store = await ProfileStore.open(make_settings(str(tmp_path)), clock=FakeClock())
        try:
            assert await store.get("v1") == old
            await store.record("v1", [page("a")], received=3.0)
            again = await store.get("v1")
            assert again is not None and again.customer == old.customer and again.counters.page_views == 1
        finally:
            await store.close()

    asyncio.run(scenario())
    conn = sqlite3.connect(path)
    try:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'profiles'").fetchone()[0]
        assert "WITHOUT ROWID" not in sql.upper()
        assert conn.execute("SELECT count(*) FROM profiles").fetchone()[0] == 1
    finally:
        conn.close()


def test_one_commit_of_many_visitors_saves_every_profile(tmp_path: Path) -> None:
    """300 visitors in one commit: the multi-row statements (64 rows at most) split in chunks and lose nobody."""

    async def scenario() -> None:
        clock = FakeClock()
        store = await in_process_store(make_settings(str(tmp_path)), clock)
        try:
            started, gate = threading.Event(), threading.Event()
            blocker = asyncio.ensure_future(store._writer.submit(lambda conn: started.set() or gate.wait(10)))
            assert await asyncio.to_thread(started.wait, 10)
            commits = store._writer.commits
            records = [asyncio.ensure_future(store.record(f"v{n}", [page(f"i{n % 7}")], received=clock.time())) for n in range(300)]
            await asyncio.sleep(0)
            gate.set()
            await blocker
            results = await asyncio.gather(*records)
            assert store._writer.commits - commits == 2  # the blocked one, then all 300 together
            assert all((r.accepted, r.duplicates) == (1, 0) for r in results)
            for n in (0, 128, 255, 256, 299):
                profile = await store.get(f"v{n}")
                assert profile is not None and profile.counters.page_views == 1
        finally:
            await store.close()
        assert len(stored_ids(str(tmp_path))) == 300

    asyncio.run(scenario())


def test_records_waiting_for_the_journal_process_share_its_next_commit(tmp_path: Path) -> None:
    """While another connection holds the write lock, 300 records queue up in the journal process's
    socket; once it is free they take at most a few commits, and every profile is saved."""

    async def scenario() -> None:
        clock = FakeClock()
        settings = make_settings(str(tmp_path))
        store = await ProfileStore.open(settings, clock=clock)
        blocker = sqlite3.connect(db_path(str(tmp_path)), isolation_level=None)
        try:
            commits = store.journal_commits
            blocker.execute("BEGIN IMMEDIATE")  # as another worker's long transaction would
            records = [asyncio.ensure_future(store.record(f"v{n}", [page(f"i{n % 7}")], received=clock.time())) for n in range(300)]
            await asyncio.sleep(0.2)
            assert not any(record.done() for record in records), "acknowledged before the commit"
            blocker.execute("COMMIT")
            results = await asyncio.gather(*records)
            assert all((r.accepted, r.duplicates) == (1, 0) for r in results)
            assert store.journal_commits - commits <= 3
            for n in (0, 128, 299):
                profile = await store.get(f"v{n}")
                assert profile is not None and profile.counters.page_views == 1
        finally:
            blocker.close()
            await store.close()
        assert len(stored_ids(str(tmp_path))) == 300

    asyncio.run(scenario())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own nice value on Linux only")
def test_the_checkpointer_runs_below_the_request_path(tmp_path: Path) -> None:
    """Its copying bursts yield the CPU to the writer and the event loop; the process itself keeps its priority."""
    path = db_path(str(tmp_path))
    create_schema(path)
    writer = GroupCommitWriter(path)
    try:
        checkpointer = writer._committer._checkpointer
        assert checkpointer is not None
        tid = checkpointer._thread.native_id
        assert tid is not None
        base = os.getpriority(os.PRIO_PROCESS, 0)
        expected = min(19, base + CHECKPOINTER_NICENESS)
        assert checkpointer.started.wait(10)
        assert os.getpriority(os.PRIO_PROCESS, tid) == expected
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    finally:
        writer.close()


def test_the_checkpointer_writes_the_wal_out_between_checkpoints(tmp_path: Path) -> None:
    """A checkpoint's WAL sync then finds a few milliseconds of commits, not 0.3 s of them (a burst the writer waited behind)."""
    from proxy.journal import CHECKPOINT_EVERY_SECONDS, WAL_FLUSH_EVERY_SECONDS

    path = db_path(str(tmp_path))
    create_schema(path)

    async def scenario() -> int:
        writer = GroupCommitWriter(path)
        try:
            checkpointer = writer._committer._checkpointer
            assert checkpointer is not None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10  # a guard: one round takes CHECKPOINT_EVERY_SECONDS
            n = 0
            while checkpointer.passes == 0 and checkpointer.wal_flushes < 2 * CHECKPOINT_EVERY_SECONDS / WAL_FLUSH_EVERY_SECONDS and loop.time() < deadline:
                await writer.submit(lambda conn, k=n: conn.execute("INSERT OR REPLACE INTO items (id, body) VALUES (?, ?)", (f"i{k % 100}", bytes(500))))
                n += 1
            return checkpointer.wal_flushes
        finally:
            writer.close()

    assert asyncio.run(scenario()) >= 2 * CHECKPOINT_EVERY_SECONDS / WAL_FLUSH_EVERY_SECONDS
