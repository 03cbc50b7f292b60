"""The durable event journal: one SQLite file (WAL), group commit.

Rule: a write is acknowledged only after the transaction holding it has
committed. A `Committer` runs a batch of jobs in one transaction; it drives
the collector's journal process (proxy.journal_process, no GIL shared with
the event loop) and each process's `GroupCommitWriter` thread (links,
deletes, retention, catalog items). Callers submit jobs (functions of a
connection); the writer takes every job waiting (up to MAX_BATCH_EVENTS events), runs them in one
`BEGIN IMMEDIATE` transaction (a failing job fails alone: the transaction is
rolled back and run again with each job in its own savepoint), commits, then resolves every job's future at once. Requests that
arrive while a commit is in flight ride the next one, so batches grow with load
and a quiet server commits each request immediately (no timer to wait on).
Jobs submitted with `submit_batched` and the same batch function run
together, consecutive ones in one call (one profile load per visitor per
commit); if that call fails, each job is retried alone in its savepoint.

Storage: one `beacons` row per accepted beacon (its events as a JSON array)
and one `event_hashes` key per event (de-duplication), instead of a row and two
index entries per event. An event is known by its `(ts, id)`: both are set by
the tag when the event happens and resent unchanged on every retry. Keyed by
the browser's timestamp first, the inserts of a commit land in the few b-tree
pages around "now" instead of one random page per event (keyed by a random
id alone, each event dirtied a page of its own: ~100 WAL pages per 80-event
commit, 8 us of the commit per event; now ~6 pages). The id is stored as its
64-bit BLAKE2b hash (`event_hash`): a key takes ~20 bytes instead of ~55, so a
page holds ~2.5 times as many and a one-beacon commit dirtied 3.5 pages of the
index on average, now 2.3 (a false duplicate needs two events with the same
timestamp whose ids share 64 bits of a cryptographic hash).

Observers (`observe`) hear, in the writer thread, when a transaction has
begun (holding the write lock), committed, or rolled back wholly or to a
savepoint: enough to keep state derived from the database (decoded profiles)
in memory without ever serving state that did not commit.

Readers in every process learn which visitors changed from the change board
(`ChangeBoard`, a shared-memory file next to the database) that writers
stamp after each commit and before acknowledging it; see its rule below.

Durability, as chosen: with WAL, `synchronous=NORMAL` (the default) survives
a killed process, `kill -9` at any moment included (the commit is in the OS
before we answer; tests/collector/test_crash.py), but a power loss may take
the last commits; `synchronous=FULL` also survives power loss (an fsync per
group commit). Several processes may share the file: SQLite's lock serialises
their writers (busy timeout), readers never wait.

Checkpoints stay off the commit path: a background connection copies the WAL
every CHECKPOINT_EVERY_SECONDS (PASSIVE, never blocking the writer); the
writer itself only finishes one (a stall for the remainder and two fsyncs)
once the WAL is RESTART_WAL_FRAMES long, so a few requests every several
seconds wait for it rather than 1-2% of all of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import mmap
import os
import queue
import secrets
import sqlite3
import sys
import threading
import zlib
from collections.abc import Iterable
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from proxy.errors import StoreError

DB_FILE = "tailor.sqlite3"
CHANGE_BOARD_FILE = "tailor.changes"
CHANGE_BOARD_SLOTS = 1 << 20  # 8 MiB of 64-bit stamps (a sparse file); visitors sharing a slot only cost extra reads
MAX_BATCH_EVENTS = 500
BUSY_TIMEOUT_MS = 5_000
CHECKPOINT_EVERY_SECONDS = 0.3
WAL_FLUSH_EVERY_SECONDS = 0.02  # the checkpointer writes the WAL out this often (only adds durability)
CHECKPOINTER_NICENESS = 10  # the checkpoint thread's scheduling priority (Linux), below the request path's
MAX_CHECKPOINT_PASSES = 8
SMALL_CHECKPOINT_FRAMES = 256  # left for the writer to copy between two commits (~1 ms)
RESTART_WAL_FRAMES = 16_384  # ~64 MB: only a WAL this long is worth stalling the writer to restart
SAFETY_CHECKPOINT_PAGES = 32_768  # ~128 MB of WAL
CACHED_STATEMENTS = 1024  # prepared statements kept per connection (the writer's multi-row INSERTs come in many sizes)
WRITER_CACHE_KIB = 64 * 1024  # the writer's page cache: the dedup index's hot pages stay in memory

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS beacons (
    seq INTEGER PRIMARY KEY,
    vid TEXT NOT NULL,
    received REAL NOT NULL,
    n INTEGER NOT NULL,
    body BLOB NOT NULL,
    facts BLOB
);
CREATE INDEX IF NOT EXISTS beacons_vid ON beacons (vid);
CREATE TABLE IF NOT EXISTS event_hashes (
    ts REAL NOT NULL,
    h INTEGER NOT NULL,
    PRIMARY KEY (ts, h)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profiles (
    vid TEXT PRIMARY KEY,
    updated REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    vid TEXT PRIMARY KEY,
    canonical TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_canonical ON aliases (canonical);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS popularity (
    item TEXT PRIMARY KEY,
    value REAL NOT NULL,
    ts REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coviews (
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    weight REAL NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS catalog_folded (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS repurchase (
    item TEXT PRIMARY KEY,
    total_days REAL NOT NULL,
    n INTEGER NOT NULL
) WITHOUT ROWID;
"""


def db_path(data_dir: str) -> Path:
    return Path(data_dir) / DB_FILE


class ChangeBoard:
    """Which visitors changed, in shared memory: the readers' cache check without a query.

    Rule: once a transaction that changed visitor `v` has committed, and before
    it is acknowledged, its writer stores a stamp into `v`'s slot (crc32 of
    the id) that no store into that slot ever used before (a random 31-bit
    prefix per board, then a count of `mark` calls). So a reader that read a
    slot's stamp *before* reading `v`'s rows may keep what it read for as long
    as the slot still shows that stamp: a commit the read missed stores a new
    stamp afterwards, and a slot never shows an old stamp again (each `mark`
    stores once per slot). Every process of one data dir maps the same
    `tailor.changes` file; aligned 8-byte loads and stores are atomic.

    Known gap: a process killed between a commit and its `mark` never
    acknowledged that commit; other workers may serve what they cached
    before it until their cache's TTL (`profiles.l1_ttl_seconds`) ends.
    """

    def __init__(self, path: Path, *, slots: int = CHANGE_BOARD_SLOTS) -> None:
        if slots <= 0 or slots & (slots - 1):
            raise ValueError("change board slots must be a power of two")
        size = slots * 8
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                # Blocks allocated now (a full disk fails here, not as SIGBUS on a later store into a
                # hole); new stamps are 0 ("never marked"); never shrunk: others may have it mapped.
                os.posix_fallocate(fd, 0, size)
                self._map = mmap.mmap(fd, size)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"{path}: cannot map the change board: {exc}") from exc
        self._stamps = memoryview(self._map).cast("Q")
        self._mask = slots - 1
        self._prefix = (secrets.randbits(31) + 1) << 32
        self._count = 0

    def stamp(self, key: str) -> int:
        """The slot's current stamp (read it before reading the rows it guards)."""
        return self._stamps[zlib.crc32(key.encode()) & self._mask]

    def mark(self, keys: Iterable[str]) -> None:
        """These visitors changed in a transaction that has committed (call before acknowledging it)."""
        self._count += 1
        if self._count > 0xFFFF_FFFF:  # a new prefix every 2**32 marks keeps stamps unique
            self._prefix, self._count = (secrets.randbits(31) + 1) << 32, 1
        stamp = self._prefix | self._count
        stamps, mask = self._stamps, self._mask
        for slot in {zlib.crc32(key.encode()) & mask for key in keys}:
            stamps[slot] = stamp

    def close(self) -> None:
        self._stamps.release()
        self._map.close()


def change_board_path(data_dir: str) -> Path:
    return Path(data_dir) / CHANGE_BOARD_FILE


def connect(path: Path, *, sync: str = "normal", readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN ourselves), WAL, busy timeout."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000, cached_statements=CACHED_STATEMENTS)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: cannot use WAL journal mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {'FULL' if sync == 'full' else 'NORMAL'}")
        return conn
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the database: {exc}") from exc


def create_schema(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.create_function("tailor_event_hash", 1, event_hash, deterministic=True)
        moved = _migrate_event_rows(conn)
        _migrate_event_ids(conn, rebuild=moved)
        _migrate_event_keys_to_hashes(conn)
        _migrate_profiles_to_rowid(conn)
        _add_beacon_facts(conn)
        conn.execute("DROP TABLE IF EXISTS changes")  # the readers' change log before the change board
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot create the schema: {exc}") from exc
    finally:
        conn.close()


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchall())


def _migrate_event_rows(conn: sqlite3.Connection) -> bool:
    """Databases from before `beacons`: move each old `events` row into a one-event beacon."""
    if not _has_table(conn, "events"):
        return False
    conn.execute("INSERT INTO beacons (vid, received, n, body) SELECT vid, received, 1, CAST('[' || CAST(body AS TEXT) || ']' AS BLOB) FROM events ORDER BY seq")
    conn.execute("DROP TABLE events")
    return True


def _add_beacon_facts(conn: sqlite3.Connection) -> None:
    """Beacons keep their catalog facts until a writer folds them into the catalog tables (see
    profile_store.fold_catalog); older beacons' facts were written to those tables at once."""
    if "facts" not in [row[1] for row in conn.execute("PRAGMA table_info(beacons)").fetchall()]:
        conn.execute("ALTER TABLE beacons ADD COLUMN facts BLOB")
    conn.execute("INSERT OR IGNORE INTO catalog_folded (id, seq) SELECT 1, coalesce(max(seq), 0) FROM beacons")


def _migrate_profiles_to_rowid(conn: sqlite3.Connection) -> None:
    """Profiles were a WITHOUT ROWID table: there a row over ~1 KB spills into overflow pages
    (a 3.7 KB profile is 4 pages rewritten per save, 1 in a rowid table's leaf)."""
    rows = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'profiles'").fetchall()
    if not rows or "WITHOUT ROWID" not in rows[0][0].upper():
        return
    conn.execute("ALTER TABLE profiles RENAME TO profiles_without_rowid")
    conn.execute("CREATE TABLE profiles (vid TEXT PRIMARY KEY, updated REAL NOT NULL, body BLOB NOT NULL)")
    conn.execute("INSERT INTO profiles (vid, updated, body) SELECT vid, updated, body FROM profiles_without_rowid")
    conn.execute("DROP TABLE profiles_without_rowid")


def event_hash(event_id: str) -> int:
    """The de-duplication key's second half: 64 bits of BLAKE2b of the event's id (signed, as SQLite stores it)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little", signed=True)


def _migrate_event_ids(conn: sqlite3.Connection, *, rebuild: bool) -> None:
    """Databases from before (ts, id) keys (keyed by id alone): key every journalled event by (ts, hash of id)."""
    if not (rebuild or _has_table(conn, "event_ids")):
        return
    conn.execute(
        "INSERT OR IGNORE INTO event_hashes (ts, h) SELECT json_extract(e.value, '$.ts'), tailor_event_hash(json_extract(e.value, '$.id')) "
        "FROM beacons, json_each(CAST(beacons.body AS TEXT)) AS e"
    )
    conn.execute("DROP TABLE IF EXISTS event_ids")


def _migrate_event_keys_to_hashes(conn: sqlite3.Connection) -> None:
    """Databases keyed by (ts, id text): the same keys with the id's 64-bit hash (about 20 bytes a key instead of 55)."""
    if not _has_table(conn, "event_keys"):
        return
    conn.execute("INSERT OR IGNORE INTO event_hashes (ts, h) SELECT ts, tailor_event_hash(id) FROM event_keys ORDER BY ts")
    conn.execute("DROP TABLE event_keys")


BatchFn = Callable[[sqlite3.Connection, list[Any]], list[Any]]


class TransactionObserver(Protocol):
    """Told about the writer's transactions; every call comes from the writer thread."""

    def begun(self, conn: sqlite3.Connection) -> None:
        """A transaction started (the write lock is held until it ends)."""

    def committed(self) -> None:
        """The transaction committed."""

    def rolled_back(self) -> None:
        """Some of the transaction's writes were undone (whole or to a savepoint)."""


class Job:
    """One unit of work for a commit: `fn(conn)`, or a payload for `batch_fn`; `ok`/`result` once run."""

    __slots__ = ("fn", "batch_fn", "payload", "weight", "future", "loop", "ok", "result")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], Any] | None,
        weight: int,
        future: asyncio.Future[Any] | None,
        loop: asyncio.AbstractEventLoop | None,
        batch_fn: BatchFn | None = None,
        payload: Any = None,
    ) -> None:
        self.fn = fn
        self.batch_fn = batch_fn
        self.payload = payload
        self.weight = weight
        self.future = future
        self.loop = loop
        self.ok = False
        self.result: Any = None

    def run_alone(self, conn: sqlite3.Connection) -> Any:
        if self.batch_fn is not None:
            return self.batch_fn(conn, [self.payload])[0]
        assert self.fn is not None
        return self.fn(conn)


_STOP = object()


class Committer:
    """One writer connection's transactions: a batch of jobs in, one commit, each job's outcome out.

    Used by the in-process `GroupCommitWriter` thread and by the journal
    process (proxy.journal_process), which owns the collector's writes.
    """

    def __init__(
        self,
        path: Path,
        *,
        sync: str = "normal",
        setup: Callable[[sqlite3.Connection], None] | None = None,
        restart_wal_frames: int = RESTART_WAL_FRAMES,
        checkpoints: bool = True,
    ) -> None:
        self._conn = connect(path, sync=sync)
        # Checkpoints (copying the WAL into the database, with fsyncs) run in their own
        # thread so a group commit never waits for one; the writer only steps in
        # as a safety net when the WAL grows large.
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_CHECKPOINT_PAGES}")
        self._conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        # Savepoint journals (every batch runs in one) stay in memory instead of
        # spilling to a temp file once a batch dirties more than 64 KiB.
        self._conn.execute("PRAGMA temp_store = MEMORY")
        self._checkpointer = _Checkpointer(path, restart_wal_frames) if checkpoints else None
        if setup is not None:
            setup(self._conn)
        self._observers: list[TransactionObserver] = []
        self.commits = 0
        self.checkpoints_finished = 0
        self._checkpoints_seen = 0

    def observe(self, observer: TransactionObserver) -> None:
        self._observers.append(observer)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._conn.close()

    def after_commit(self) -> None:
        """Between two commits: finish the checkpointer's pass if it left a long WAL."""
        if self._checkpointer is not None and self._checkpointer.passes != self._checkpoints_seen:
            self._finish_checkpoint()

    def _finish_checkpoint(self) -> None:
        """Copy the few frames committed while the checkpointer's pass ran.

        Below saturation the checkpointer catches up by itself in the gaps
        between commits, and the next commit restarts the WAL. Under steady
        load it never does (we commit while it copies), so the WAL would only
        restart at the safety size, with a long checkpoint inside some
        request's commit. Done here, between two commits, the WAL is fully
        copied and the next commit starts it again from the beginning. It
        stalls the writer for the copy and two fsyncs (2-7 ms measured), so it
        happens only once the WAL is `restart_wal_frames` long: done after
        every 0.3 s pass, it put such a stall in front of 1-2% of requests.
        """
        assert self._checkpointer is not None
        self._checkpoints_seen = self._checkpointer.passes
        self.checkpoints_finished += 1
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # the safety net (wal_autocheckpoint) still bounds the WAL

    def commit(self, batch: list[Job]) -> None:
        """Run `batch` in one transaction; every job's `ok` and `result` tell its outcome.

        First without savepoints (four statements fewer per commit: ~5 us of a
        one-beacon commit); only if a job fails is the whole transaction rolled
        back and run again with each job (or run of batched jobs) in a
        savepoint of its own, where a bad job fails alone.
        """
        error: BaseException | None = None
        try:
            if not self._transaction(batch, isolate=False):
                self._transaction(batch, isolate=True)
        except sqlite3.Error as exc:
            error = StoreError(f"journal write failed: {exc}")
        except BaseException as exc:  # noqa: BLE001 - report, keep the writer alive
            error = StoreError(f"journal write failed: {exc!r}")
        if error is not None:
            for job in batch:
                job.ok, job.result = False, error

    def _transaction(self, batch: list[Job], *, isolate: bool) -> bool:
        """One transaction over `batch`; False (rolled back, nothing kept) if not `isolate` and a job failed."""
        conn = self._conn
        observers = self._observers
        conn.execute("BEGIN IMMEDIATE")
        try:
            for observer in observers:
                observer.begun(conn)
            start = 0
            while start < len(batch):
                end = start + 1
                batch_fn = batch[start].batch_fn
                if batch_fn is not None:
                    while end < len(batch) and batch[end].batch_fn is batch_fn:
                        end += 1
                if not isolate:
                    if not _run_unisolated(conn, batch_fn, batch[start:end]):
                        conn.execute("ROLLBACK")
                        _rolled_back(observers)
                        for job in batch:
                            job.ok, job.result = False, None
                        return False
                elif end - start > 1 and batch_fn is not None and _run_together(conn, batch_fn, batch[start:end], observers):
                    pass
                else:
                    for job in batch[start:end]:
                        _run_alone(conn, job, observers)
                start = end
            conn.execute("COMMIT")
            self.commits += 1
        except BaseException:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            finally:
                _rolled_back(observers)
            raise
        for observer in observers:
            observer.committed()
        return True


def job_error(job: Job) -> StoreError:
    """What a failed job's caller is told."""
    if isinstance(job.result, StoreError):
        return job.result
    return StoreError(f"journal job failed: {job.result!r}")


class GroupCommitWriter:
    """The process's single writer: a thread that batches jobs into transactions."""

    def __init__(
        self,
        path: Path,
        *,
        sync: str = "normal",
        setup: Callable[[sqlite3.Connection], None] | None = None,
        restart_wal_frames: int = RESTART_WAL_FRAMES,
        checkpoints: bool = True,
    ) -> None:
        self._committer = Committer(path, sync=sync, setup=setup, restart_wal_frames=restart_wal_frames, checkpoints=checkpoints)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tailor-journal-writer", daemon=True)
        self._thread.start()

    @property
    def commits(self) -> int:
        return self._committer.commits

    @property
    def checkpoints_finished(self) -> int:
        return self._committer.checkpoints_finished

    def observe(self, observer: TransactionObserver) -> None:
        """Tell `observer` about every transaction from now on (call before submitting work)."""
        self._committer.observe(observer)

    async def submit(self, fn: Callable[[sqlite3.Connection], T], *, weight: int = 1) -> T:
        """Run `fn(conn)` inside the next group commit; returns once that commit is durable."""
        if self._closed or self._failed is not None:
            raise StoreError("the event journal is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(Job(fn, weight, future, loop))
        return await future

    async def submit_batched(self, batch_fn: BatchFn, payload: Any, *, weight: int = 1) -> Any:
        """Like `submit`, but consecutive jobs with the same `batch_fn` run as one call.

        `batch_fn(conn, payloads)` returns one result per payload, in order. If it
        raises (anything but an OperationalError), each payload runs alone in
        its own savepoint, so a bad one fails by itself.
        """
        if self._closed or self._failed is not None:
            raise StoreError("the event journal is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(Job(None, weight, future, loop, batch_fn, payload))
        return await future

    def submit_nowait(self, fn: Callable[[sqlite3.Connection], Any], *, weight: int = 1) -> None:
        """Fire and forget (catalog upserts and other writes off the request path)."""
        if not self._closed and self._failed is None:
            self._queue.put(Job(fn, weight, None, None))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._committer.close()

    def _run(self) -> None:
        pending: Any = None
        while True:
            job = pending if pending is not None else self._queue.get()
            pending = None
            if job is _STOP:
                return
            batch = [job]
            weight = job.weight
            while weight < MAX_BATCH_EVENTS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or weight + nxt.weight > MAX_BATCH_EVENTS:
                    pending = nxt
                    break
                batch.append(nxt)
                weight += nxt.weight
            self._commit(batch)
            self._committer.after_commit()

    def _commit(self, batch: list[Job]) -> None:
        self._committer.commit(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[Job]] = {}
        for job in batch:
            if job.future is not None and job.loop is not None:
                by_loop.setdefault(job.loop, []).append(job)
        for loop, jobs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, jobs)
            except RuntimeError:
                pass  # that loop is gone


def _rolled_back(observers: list[TransactionObserver]) -> None:
    for observer in observers:
        observer.rolled_back()


def _run_unisolated(conn: sqlite3.Connection, batch_fn: BatchFn | None, jobs: list[Job]) -> bool:
    """`jobs` (one, or a run sharing `batch_fn`) without a savepoint; False if one failed (roll back the transaction)."""
    try:
        if batch_fn is None:
            for job in jobs:
                job.result = job.run_alone(conn)
                job.ok = True
            return True
        results = batch_fn(conn, [job.payload for job in jobs])
        if len(results) != len(jobs):
            raise ValueError(f"batch function returned {len(results)} results for {len(jobs)} jobs")
    except sqlite3.OperationalError:
        raise  # disk full, I/O error, lock timeout: the whole batch fails
    except Exception:  # noqa: BLE001 - the batch runs again, each job in its savepoint
        return False
    for job, result in zip(jobs, results):
        job.result, job.ok = result, True
    return True


def _run_alone(conn: sqlite3.Connection, job: Job, observers: list[TransactionObserver]) -> None:
    conn.execute("SAVEPOINT job")
    try:
        job.result = job.run_alone(conn)
        job.ok = True
        conn.execute("RELEASE job")
    except sqlite3.OperationalError:
        raise  # disk full, I/O error, lock timeout: the whole batch fails
    except Exception as exc:  # noqa: BLE001 - one bad job must not sink its neighbours
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        _rolled_back(observers)
        job.result = exc


def _run_together(conn: sqlite3.Connection, batch_fn: BatchFn, jobs: list[Job], observers: list[TransactionObserver]) -> bool:
    """One call for all `jobs`; False (and nothing written) if it failed, so they run alone."""
    conn.execute("SAVEPOINT jobs")
    try:
        results = batch_fn(conn, [job.payload for job in jobs])
        if len(results) != len(jobs):
            raise ValueError(f"batch function returned {len(results)} results for {len(jobs)} jobs")
        conn.execute("RELEASE jobs")
    except sqlite3.OperationalError:
        raise
    except Exception:  # noqa: BLE001 - retried one by one, where the culprit fails alone
        conn.execute("ROLLBACK TO jobs")
        conn.execute("RELEASE jobs")
        _rolled_back(observers)
        return False
    for job, result in zip(jobs, results):
        job.result, job.ok = result, True
    return True


def lower_thread_priority(niceness: int) -> bool:
    """Raise the calling thread's nice value by `niceness` (Linux, where a thread has its own; needs no
    privilege); elsewhere nothing (there `setpriority` would slow the whole process). True if done."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except OSError:
        return False
    return True


class _Checkpointer:
    """PASSIVE checkpoints from its own connection (never blocks writers).

    Every CHECKPOINT_EVERY_SECONDS it copies the WAL into the database, then
    copies again what was committed meanwhile, until that remainder is small
    (each pass is usually several times faster than the writer fills the
    WAL) or MAX_CHECKPOINT_PASSES ran. If it left a remainder in a WAL of at
    least `restart_frames`, it twice flushes the database file (fdatasync)
    and copies what came meanwhile, counts a pass in `passes`, and the writer
    finishes it.

    Why a lower priority (Linux: the thread's own nice value): a pass copies
    about 0.3 s of WAL (~20 MB at 20,000 events/s) in a burst of CPU and
    I/O. On a busy machine that burst took a CPU from the writer and the
    event loop, and the slowest 1% of beacons came in clusters every 0.3 s.
    Checkpoints may lag (the writer's safety net bounds the WAL); requests
    may not.

    Why it also flushes the WAL every WAL_FLUSH_EVERY_SECONDS: each
    checkpoint first syncs the WAL (so a power cut mid-copy cannot leave the
    database with half a transaction), which with synchronous=NORMAL held
    0.3 s of commits, ~17 MB at 20,000 events/s: a ~12 ms write-out every
    0.3 s that the writer's own WAL appends queued behind. Written out in
    20 ms steps, the disk never gets a burst. Open loop at 20,000 events/s,
    quiet machine, alternating runs: p99 3.3-4.6 ms against 4.6-6.2 ms
    without, max 6.7-15 ms against 11-20.

    Why the flush: SQLite syncs the database file only at the end of a
    checkpoint that copied the whole WAL, i.e. inside the writer's finishing
    step, which then had ~64 MB of copied pages to write out: a 12-13 ms
    stall in front of every request waiting (measured with the writer in its
    own process, where nothing else was left in the tail). Flushed here,
    off the writer's path, that sync finds only the last pass's pages; with
    one flush, those of a pass that copied what came during the flush (the
    writer's step took 3.2-5.6 ms), with two, only the second's short copy
    (1.5-2.9 ms, at 2,000 beacons/s, once every ~2 s).
    """

    def __init__(self, path: Path, restart_frames: int) -> None:
        self._conn = connect(path)
        self._path = path
        self._restart_frames = restart_frames
        self._wal_path = path.with_name(path.name + "-wal")
        self.passes = 0
        self.wal_flushes = 0
        self.started = threading.Event()  # set once the thread runs at its own priority
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tailor-journal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lower_thread_priority(CHECKPOINTER_NICENESS)
        self.started.set()
        flushes_per_round = max(1, round(CHECKPOINT_EVERY_SECONDS / WAL_FLUSH_EVERY_SECONDS))
        while True:
            for _ in range(flushes_per_round):
                if self._stopping.wait(WAL_FLUSH_EVERY_SECONDS):
                    return
                self._flush(self._wal_path)
                self.wal_flushes += 1
            try:
                previous = copied = frames = 0
                for _ in range(MAX_CHECKPOINT_PASSES):
                    _, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if copied <= 0 or frames < previous or frames - previous <= SMALL_CHECKPOINT_FRAMES:
                        break  # nothing to copy, the WAL restarted under us, or little is left
                    previous = frames
                if copied > 0 and frames >= self._restart_frames:
                    for _ in range(2):  # the second pass copies what came during the first (and its flush)
                        self._flush(self._path)
                        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.passes += 1
            except sqlite3.Error:
                pass  # busy or I/O trouble: the next round (or the writer's safety net) retries

    @staticmethod
    def _flush(path: Path) -> None:
        """Write the file's dirty pages to disk now (only adds durability: the same file, any descriptor)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fdatasync(fd)
        except OSError:
            pass  # SQLite's own sync at the end of the checkpoint still runs
        finally:
            os.close(fd)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._conn.close()


def _resolve(jobs: list[Job]) -> None:
    for job in jobs:
        fut = job.future
        if fut is None or fut.done():
            continue
        if job.ok:
            fut.set_result(job.result)
        else:
            fut.set_exception(job_error(job))
