"""Visitor profiles on top of the journal: record (journal + fold), read, link, forget.

Rule: `record` journals each event (duplicates, by `(ts, id)`, dropped) and
folds the accepted ones into the visitor's profile in the same transaction,
so when it returns the events are durable and the profile reflects them. All
the `record`s of one group commit run together: one dedup insert for every
event, one beacon row per call, one profile load, fold and save per visitor,
each table written by a few multi-row statements (sqlite3 releases the GIL
at every step, so fewer steps means fewer waits for it).

`get` is the per-page fast path: a per-process L1 cache, kept honest across
worker processes by the change board (journal.ChangeBoard, shared memory):
each entry remembers the stamps of the visitor's slot (and its canonical
profile's) read before the rows were, and stays good while they are
unchanged; every writer stamps the visitors it changed after committing and
before acknowledging, so a write acknowledged by any worker is visible to
the next `get` on every worker. A cached read is two shared-memory loads and
no SQL (~1 us, with or without collector load: no sqlite3 call that would
hand the GIL to the busy writer thread); a miss is two point reads inline on
the event loop (a WAL read never waits on writers, and asyncio.to_thread's
round trip alone is 63 us); everything that writes goes through the
journal's writers: `record`s go to the journal process
(proxy.journal_process: its own GIL, so commits never wait for the busy event
loop), the rare rest to this process's writer thread.

The journal process (`RecordWriter`) keeps the profiles it saved, decoded (`_WriterProfiles`), and
each visitor's canonical key, so a commit folds into them without reading
and decoding each one again; that cache holds committed state only, and is
dropped when another connection has committed since (`PRAGMA data_version`),
anything rolls back, or a job that changes aliases runs.

Catalog facts (popularity, co-views, repurchase intervals) commit with their beacon, in its row
(`beacons.facts`). Once per CATALOG_FOLD_SECONDS of receive time a writer starts adding the
waiting ones to the catalog tables, FOLD_MAX_BEACONS beacons' worth per commit until none wait,
each table's rows in key order (`fold_catalog`; exactly once: each pass and its `catalog_folded`
mark commit together). Written at once, they were a
statement and a page per commit for a ten-item catalog, and one page per co-viewed pair for a
real one. `catalog_stats` counts the facts still waiting too.

Customers: `link_customer` keys a customer's profile as `c.<hash>`; the
visitor's anonymous profile is merged into it and the visitor id becomes an
alias, so `get(vid)` on any of the customer's devices returns the one profile.

Privacy: the client address and user agent are not stored. With GPC only
consent events are journalled; the others are counted as `ignored`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec

from proxy import events as ev
from proxy.clock import SYSTEM_CLOCK, Clock
from proxy.errors import StoreError
from proxy.journal import ChangeBoard, Committer, GroupCommitWriter, Job, change_board_path, connect, create_schema, db_path, event_hash, job_error
from proxy.journal_process import JournalProcess, RecordFrame, Result
from proxy.profile_fold import fold, forget_behaviour, merge
from proxy.profile_model import CatalogStats, Profile
from proxy.settings import ProfileSettings, Settings
from slots.model import Item

L1_MAX_PROFILES = 50_000
WRITER_MAX_PROFILES = 4_096  # profiles (encoded) the writer keeps between commits
CATALOG_TTL_SECONDS = 5.0
CATALOG_FOLD_SECONDS = 1.0  # how often (in receive time) a writer starts adding the beacons' catalog facts to the catalog tables
FOLD_MAX_BEACONS = 32  # beacons whose facts one commit folds (~1 ms with a 5,000-item catalog; a whole second's took 65-120 ms)
POPULARITY_HALF_LIFE_DAYS = 7.0
MAX_COVIEW_PARTNERS = 20  # items of the session paired with a newly viewed item
MAX_COVIEWS_PER_ITEM = 20  # returned by catalog_stats
MIN_REPURCHASE_SECONDS = 3600.0  # two orders within an hour are one shopping trip
DAY = 86_400.0
ROWS_PER_STATEMENT = 64  # multi-row statements: at most 64 rows each (and at most 64 shapes per table to prepare)
WRITER_MAX_ALIASES = 65_536  # visitor -> canonical profile, as the writer last read them
# An update in place: the row's own leaf page is rewritten (REPLACE would delete it and append
# a new row, dirtying two table pages and the vid index).
UPSERT_PROFILE = "ON CONFLICT (vid) DO UPDATE SET updated = excluded.updated, body = excluded.body"
SAVE_PROFILE = "INSERT INTO profiles (vid, updated, body) VALUES (?, ?, ?) " + UPSERT_PROFILE

_profile_encoder = msgspec.msgpack.Encoder()
_profile_decoder = msgspec.msgpack.Decoder(Profile)
_events_encoder = msgspec.json.Encoder()
_events_decoder = msgspec.json.Decoder(list[ev.Event])


class _Facts(msgspec.Struct, array_like=True):
    """One beacon's catalog facts, kept in its row until `fold_catalog` adds them to the catalog tables."""

    popularity: dict[str, float]
    coviews: list[tuple[str, str, float]]
    repurchases: list[tuple[str, float]]


_facts_encoder = msgspec.msgpack.Encoder()
_facts_decoder = msgspec.msgpack.Decoder(_Facts)


class _EventKey(msgspec.Struct):
    ts: float
    id: str


_keys_decoder = msgspec.json.Decoder(list[_EventKey])
_item_decoder = msgspec.msgpack.Decoder(Item)

_POP_WEIGHT_BY_TYPE: dict[type, float] = {ev.PageView: 1.0, ev.Click: 1.0, ev.AddToCart: 3.0, ev.Purchase: 5.0}


class RecordResult(msgspec.Struct, frozen=True):
    accepted: int
    duplicates: int
    ignored: int = 0  # not stored on purpose (GPC / no consent)


def customer_key(customer: str) -> str:
    return "c." + hashlib.sha256(customer.encode("utf-8", "replace")).hexdigest()[:32]


class ProfileStore:
    """SQLite-backed profiles; open with `await ProfileStore.open(settings)`."""

    def __init__(
        self,
        settings: Settings,
        path: Path,
        writer: GroupCommitWriter,
        reader: sqlite3.Connection,
        clock: Clock,
        board: ChangeBoard | None = None,
        journal: JournalProcess | None = None,
    ) -> None:
        self.settings = settings
        self._profiles_settings: ProfileSettings = settings.profiles
        self._path = path
        self._writer = writer  # this process's writes: links, deletes, retention, catalog items
        self._journal = journal  # the collector's writes (`record`), in the journal process
        self._board = board if board is not None else ChangeBoard(change_board_path(str(path.parent)))
        self._writer_profiles = _WriterProfiles(WRITER_MAX_PROFILES, self._board)
        writer.observe(self._writer_profiles)
        self._record_batch = self._writer_profiles.record_batch  # one bound method: jobs batch by identity
        self._reader = reader
        self._clock = clock
        ttl = max(0.001, settings.profiles.l1_ttl_seconds)
        self._l1_ttl = ttl
        # vid -> (expires, stamp of vid, canonical, stamp of canonical, profile); oldest first
        self._l1: dict[str, tuple[float, int, str, int, Profile | None]] = {}
        self._items: dict[str, Item] = {}
        self._items_cache: tuple[float, list[Item]] | None = None
        self._catalog_cache: tuple[float, CatalogStats] | None = None
        self._closed = False

    @classmethod
    async def open(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> ProfileStore:
        path = db_path(settings.proxy.data_dir)
        await asyncio.to_thread(create_schema, path)
        # The journal process checkpoints the WAL: it is the writer that keeps it growing.
        writer = await asyncio.to_thread(GroupCommitWriter, path, sync=settings.collector.sync, checkpoints=False)
        try:
            journal = await JournalProcess.start(path, sync=settings.collector.sync, profiles=settings.profiles)
        except BaseException:
            await asyncio.to_thread(writer.close)
            raise
        reader = connect(path, sync=settings.collector.sync, readonly=True)
        # This connection reads on the event loop (get_now): a locked database (WAL recovery after a crash)
        # must cost a page at most its decision deadline, never the 5 s writers may wait.
        reader.execute(f"PRAGMA busy_timeout = {max(1, int(settings.decisions.deadline_ms))}")
        board = ChangeBoard(change_board_path(settings.proxy.data_dir))
        store = cls(settings, path, writer, reader, clock, board, journal)
        store._items = {item.id: item for item in await asyncio.to_thread(store._read_items)}
        return store

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._journal is not None:
            await self._journal.close()
        await asyncio.to_thread(self._writer.close)
        self._reader.close()
        self._board.close()

    # ---- writes -----------------------------------------------------------------

    async def record(
        self, vid: str, events: Sequence[ev.Event], *, received: float, gpc: bool = False, ip: str | None = None, user_agent: str | None = None
    ) -> RecordResult:
        """Journal + fold; durable when it returns. Raises StoreError if not persisted."""
        if not events:
            return RecordResult(0, 0)
        if self._closed:
            raise StoreError("the profile store is closed")
        keep = [event for event in events if isinstance(event, ev.Consent)] if gpc else list(events)
        if self._journal is not None:
            return RecordResult(*await self._journal.record(vid, keep, ignored=len(events) - len(keep), received=received, gpc=gpc))
        request = _RecordRequest(vid, keep, len(events) - len(keep), received, gpc, self._profiles_settings)
        result: RecordResult = await self._writer.submit_batched(self._record_batch, request, weight=len(events))
        return result

    @property
    def journal_commits(self) -> int:
        """Group commits of `record`s so far."""
        return self._journal.commits if self._journal is not None else self._writer.commits

    async def link_customer(self, vid: str, customer: str) -> None:
        if not customer:
            return
        settings = self._profiles_settings
        now = self._clock.time()
        forget, changed = self._writer_profiles.clear, self._writer_profiles.changed
        await self._writer.submit(lambda conn: (forget(), _link(conn, vid, customer, now, settings, changed))[1])

    async def delete_visitor(self, vid: str) -> int:
        """Forget a visitor (and, for a customer, every linked device). Returns events deleted."""
        forget, changed = self._writer_profiles.clear, self._writer_profiles.changed
        return await self._writer.submit(lambda conn: (forget(), _delete(conn, vid, changed))[1])

    async def expire(self, now: float) -> int:
        """Retention: drop events and profiles not touched for `retention_days`. Returns profiles dropped."""
        cutoff = now - self._profiles_settings.retention_days * DAY
        forget, changed = self._writer_profiles.clear, self._writer_profiles.changed
        return await self._writer.submit(lambda conn: (forget(), _expire(conn, cutoff, changed))[1])

    async def touch_page(self, vid: str, *, now: float, new_visitor: bool) -> None:
        """Page loads are learnt from the tag's page_view events; nothing to do."""

    async def observe_items(self, items: Iterable[Item]) -> None:
        """Remember catalog items seen in pages; only new or changed ones are written, off the request path."""
        changed = []
        for item in items:
            if self._items.get(item.id) != item:
                self._items[item.id] = item
                changed.append(item)
        if changed:
            rows = [(item.id, _profile_encoder.encode(item)) for item in changed]
            self._writer.submit_nowait(lambda conn: conn.executemany("INSERT OR REPLACE INTO items (id, body) VALUES (?, ?)", rows), weight=len(rows))
            self._items_cache = None

    # ---- reads ------------------------------------------------------------------

    async def get(self, vid: str) -> Profile | None:
        try:
            return self.get_now(vid)
        except sqlite3.Error as exc:
            raise StoreError(f"profile read failed: {exc}") from exc

    def get_now(self, vid: str) -> Profile | None:
        """Synchronous `get` (a point read; safe on the event loop)."""
        if self._closed:
            raise StoreError("the profile store is closed")
        stamp = self._board.stamp
        l1 = self._l1
        entry = l1.get(vid)
        if entry is not None:
            expires, vid_stamp, canonical, canonical_stamp, profile = entry
            if stamp(vid) == vid_stamp and (canonical == vid or stamp(canonical) == canonical_stamp) and self._clock.monotonic() < expires:
                return profile
            del l1[vid]
        elif len(l1) >= L1_MAX_PROFILES:
            del l1[next(iter(l1))]  # the oldest entry (kept in insertion order)
        vid_stamp = stamp(vid)  # stamps first, rows second: a commit the reads miss stamps again after
        rows = self._reader.execute("SELECT canonical FROM aliases WHERE vid = ?", (vid,)).fetchall()
        canonical = rows[0][0] if rows else vid
        canonical_stamp = stamp(canonical) if canonical != vid else vid_stamp
        rows = self._reader.execute("SELECT body FROM profiles WHERE vid = ?", (canonical,)).fetchall()
        profile = _profile_decoder.decode(rows[0][0]) if rows else None
        l1[vid] = (self._clock.monotonic() + self._l1_ttl, vid_stamp, canonical, canonical_stamp, profile)
        return profile

    async def items(self) -> list[Item]:
        now = self._clock.monotonic()
        if self._items_cache is None or now - self._items_cache[0] > CATALOG_TTL_SECONDS:
            stored = await asyncio.to_thread(self._read_items)
            merged = {item.id: item for item in stored}
            merged.update(self._items)
            self._items_cache = (now, list(merged.values()))
        return self._items_cache[1]

    def _read_items(self) -> list[Item]:
        conn = connect(self._path, readonly=True)
        try:
            return [_item_decoder.decode(body) for (body,) in conn.execute("SELECT body FROM items").fetchall()]
        finally:
            conn.close()

    async def catalog_stats(self) -> CatalogStats:
        now = self._clock.monotonic()
        if self._catalog_cache is None or now - self._catalog_cache[0] > CATALOG_TTL_SECONDS:
            stats = await asyncio.to_thread(self._read_catalog, self._clock.time())
            self._catalog_cache = (now, stats)
        return self._catalog_cache[1]

    def _read_catalog(self, now: float) -> CatalogStats:
        conn = connect(self._path, readonly=True)
        try:
            conn.execute("BEGIN")  # one snapshot: the catalog tables and the facts not folded into them yet
            half = POPULARITY_HALF_LIFE_DAYS * DAY
            popularity = {
                item: value * math.pow(0.5, max(0.0, now - ts) / half)
                for item, value, ts in conn.execute("SELECT item, value, ts FROM popularity ORDER BY value DESC LIMIT 5000").fetchall()
            }
            coviews: dict[str, dict[str, float]] = {}
            for a, b, weight in conn.execute("SELECT a, b, weight FROM coviews ORDER BY weight DESC LIMIT 100000").fetchall():
                partners = coviews.setdefault(a, {})
                if len(partners) < MAX_COVIEWS_PER_ITEM:
                    partners[b] = weight
            repurchase = {item: (total, n) for item, total, n in conn.execute("SELECT item, total_days, n FROM repurchase WHERE n > 0").fetchall()}
            folded = conn.execute("SELECT seq FROM catalog_folded WHERE id = 1").fetchone()
            pending = _pending_facts(conn, folded[0]) if folded else None
            conn.execute("COMMIT")
        finally:
            conn.close()
        if pending is not None:
            _, _, pop, pop_ts, pairs, repurchases = pending
            for item, value in pop.items():
                popularity[item] = popularity.get(item, 0.0) + value * math.pow(0.5, max(0.0, now - pop_ts[item]) / half)
            touched = set()
            for (a, b), weight in pairs.items():
                partners = coviews.setdefault(a, {})
                partners[b] = partners.get(b, 0.0) + weight
                touched.add(a)
            for a in touched:
                if len(coviews[a]) > MAX_COVIEWS_PER_ITEM:
                    coviews[a] = dict(sorted(coviews[a].items(), key=lambda kv: -kv[1])[:MAX_COVIEWS_PER_ITEM])
            for item, (days, count) in repurchases.items():
                total, n = repurchase.get(item, (0.0, 0))
                repurchase[item] = (total + days, n + count)
        return CatalogStats(popularity=popularity, coviews=coviews, repurchase_days={item: total / n for item, (total, n) in repurchase.items() if n > 0})

    async def export_visitor(self, vid: str) -> dict[str, Any]:
        """Everything stored about a visitor: the profile and their events (data subject access)."""

        def read() -> dict[str, Any]:
            conn = connect(self._path, readonly=True)
            try:
                vids = _linked_vids(conn, vid)
                canonical = _resolve(conn, vid)
                rows = conn.execute("SELECT body FROM profiles WHERE vid = ?", (canonical,)).fetchall()
                marks = ",".join("?" * len(vids))
                beacons = conn.execute(f"SELECT vid, received, body FROM beacons WHERE vid IN ({marks}) ORDER BY seq", vids).fetchall()  # noqa: S608
                return {
                    "vid": vid,
                    "profile": msgspec.to_builtins(_profile_decoder.decode(rows[0][0])) if rows else None,
                    "events": [{"vid": v, "received": r, "event": event} for v, r, body in beacons for event in msgspec.json.decode(body)],
                }
            finally:
                conn.close()

        return await asyncio.to_thread(read)

    def iter_events(self, since: float = 0) -> Iterator[tuple[str, float, ev.Event]]:
        return iter_events(self._path, since)

    def export_ndjson(self, out: TextIO, since: float = 0) -> int:
        return export_ndjson(self._path, out, since)


def iter_events(path: Path, since: float = 0) -> Iterator[tuple[str, float, ev.Event]]:
    """Every journalled event (vid, received time, event) in journal order."""
    conn = connect(path, readonly=True)
    try:
        last = 0
        while True:
            rows = conn.execute("SELECT seq, vid, received, body FROM beacons WHERE seq > ? AND received >= ? ORDER BY seq LIMIT 1000", (last, since)).fetchall()
            if not rows:
                return
            for seq, vid, received, body in rows:
                last = seq
                for event in _events_decoder.decode(body):
                    yield vid, received, event
    finally:
        conn.close()


def export_ndjson(path: Path, out: TextIO, since: float = 0) -> int:
    """Write the journal as NDJSON lines `{"vid", "received", "event"}`; returns the count."""
    count = 0
    for vid, received, event in iter_events(path, since):
        out.write(msgspec.json.encode({"vid": vid, "received": received, "event": event}).decode("utf-8"))
        out.write("\n")
        count += 1
    return count


# ---- work done inside the writer's transaction ------------------------------------


def _resolve(conn: sqlite3.Connection, vid: str) -> str:
    rows = conn.execute("SELECT canonical FROM aliases WHERE vid = ?", (vid,)).fetchall()
    return rows[0][0] if rows else vid


def _linked_vids(conn: sqlite3.Connection, vid: str) -> list[str]:
    canonical = _resolve(conn, vid)
    others = [v for (v,) in conn.execute("SELECT vid FROM aliases WHERE canonical = ?", (canonical,)).fetchall()]
    return list(dict.fromkeys([vid, canonical, *others]))


def _load(conn: sqlite3.Connection, vid: str) -> Profile | None:
    rows = conn.execute("SELECT body FROM profiles WHERE vid = ?", (vid,)).fetchall()
    return _profile_decoder.decode(rows[0][0]) if rows else None


def _save(conn: sqlite3.Connection, profile: Profile) -> None:
    conn.execute(SAVE_PROFILE, (profile.vid, profile.updated, _profile_encoder.encode(profile)))


Changed = Callable[[Iterable[str]], None]  # tells the change board, once the transaction commits


class _RecordRequest:
    """One `record` call waiting for the writer: the events to journal (GPC already applied)."""

    __slots__ = ("vid", "events", "ignored", "received", "gpc", "settings")

    def __init__(self, vid: str, events: list[ev.Event], ignored: int, received: float, gpc: bool, settings: ProfileSettings) -> None:
        self.vid = vid
        self.events = events
        self.ignored = ignored
        self.received = received
        self.gpc = gpc
        self.settings = settings


class RecordWriter:
    """The journal process's side of `record`: frames in, one transaction, one result per frame.

    It keeps the decoded profiles it saved (`_WriterProfiles`) and stamps the
    change board after each commit, before the results are sent back.
    """

    def __init__(self, path: Path, settings: ProfileSettings, *, sync: str = "normal") -> None:
        self._committer = Committer(path, sync=sync)
        try:
            self._board = ChangeBoard(change_board_path(str(path.parent)))
        except BaseException:
            self._committer.close()
            raise
        self._profiles = _WriterProfiles(WRITER_MAX_PROFILES, self._board)
        self._committer.observe(self._profiles)
        self._batch = self._profiles.record_batch
        self._settings = settings

    @property
    def commits(self) -> int:
        return self._committer.commits

    def commit(self, frames: list[RecordFrame]) -> list[Result]:
        settings, batch_fn = self._settings, self._batch
        jobs = [
            Job(None, len(f.events) + f.ignored, None, None, batch_fn, _RecordRequest(f.vid, f.events, f.ignored, f.received, f.gpc, settings)) for f in frames
        ]
        self._committer.commit(jobs)
        results: list[Result] = []
        for job in jobs:
            if job.ok:
                r = job.result
                results.append((r.accepted, r.duplicates, r.ignored))
            else:
                results.append(str(job_error(job)))
        return results

    def after_commit(self) -> None:
        self._committer.after_commit()

    def close(self) -> None:
        self._committer.close()
        self._board.close()


class _WriterProfiles:
    """Profiles as last committed, kept encoded by the writer thread (a TransactionObserver).

    Encoded, not as decoded objects: the bytes were made for the row anyway,
    decoding 1-4 KB gives fresh objects that fold and encode from the CPU's
    cache, while a decoded profile kept for seconds among thousands is ~150
    scattered objects that encoding walks from memory (~30 us for a 3.7 KB
    profile instead of ~3; one-beacon commits -5%, 20-beacon commits -7%),
    and the cache holds no objects for the garbage collector to traverse.

    A profile taken for folding leaves the cache; what a transaction saves
    waits in `_pending` and joins the cache only when that transaction
    commits. Any rollback (whole or to a savepoint) forgets everything, and so
    does a commit by another connection (another worker process, a CLI),
    seen as a new `PRAGMA data_version` once this writer holds the lock.
    Jobs that rewrite profiles outside `record_batch` call `clear` first.
    """

    def __init__(self, capacity: int, board: ChangeBoard) -> None:
        self._capacity = capacity
        self._board = board
        self._changed: set[str] = set()  # visitors to stamp on the board at the next commit
        self._committed: dict[str, bytes] = {}  # encoded; oldest first (insertion order = LRU order)
        self._pending: dict[str, bytes] = {}
        self._canonical: dict[str, str] = {}  # aliases read in this or earlier transactions
        self._data_version: int | None = None
        self.catalog_folded_at = 0.0  # receive time this writer last started folding (0: at the first commit)
        self.catalog_backlog = False  # its last fold left facts waiting: fold more in the next commit

    def begun(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._committed.clear()
            self._canonical.clear()
            self._data_version = version
        self._pending.clear()

    def changed(self, vids: Iterable[str]) -> None:
        """These visitors' rows (profile or aliases) change in this transaction.

        Kept across a rollback too: stamping a visitor whose change was undone
        only costs readers a fresh read.
        """
        self._changed.update(vids)

    def committed(self) -> None:
        if self._changed:
            self._board.mark(self._changed)
            self._changed.clear()
        committed = self._committed
        for vid, profile in self._pending.items():
            committed[vid] = profile
        self._pending.clear()
        while len(committed) > self._capacity:
            del committed[next(iter(committed))]

    def rolled_back(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._committed.clear()
        self._pending.clear()
        self._canonical.clear()

    def canonical(self, conn: sqlite3.Connection, vid: str) -> str:
        """The profile key of `vid` (itself, or the customer it is linked to).

        Only jobs that call `clear` first change aliases, and a rollback clears
        too, so a remembered answer is what the transaction would read.
        """
        found = self._canonical.get(vid)
        if found is None:
            if len(self._canonical) >= WRITER_MAX_ALIASES:
                self._canonical.clear()
            found = self._canonical[vid] = _resolve(conn, vid)
        return found

    def take(self, conn: sqlite3.Connection, vid: str) -> Profile | None:
        """The profile as this transaction sees it, for folding (put it back with `saved`)."""
        body = self._pending.pop(vid, None)
        if body is None:
            body = self._committed.pop(vid, None)
        if body is None:
            return _load(conn, vid)
        return _profile_decoder.decode(body)

    def saved(self, bodies: dict[str, bytes]) -> None:
        """These profiles were written in the current transaction, encoded exactly as they are now."""
        self._pending.update(bodies)

    def record_batch(self, conn: sqlite3.Connection, requests: list[_RecordRequest]) -> list[RecordResult]:
        return _record_batch(conn, requests, self)


def _record_batch(conn: sqlite3.Connection, requests: list[_RecordRequest], cache: _WriterProfiles) -> list[RecordResult]:
    """Every `record` of one group commit: one dedup insert, one profile load/save per visitor."""
    keys = [[(event.ts, event_hash(event.id)) for event in request.events] for request in requests]
    fresh = _insert_keys(conn, [key for request_keys in keys for key in request_keys])
    canonicals: dict[str, str] = {}
    profiles: dict[str, Profile] = {}
    dirty: dict[str, Profile] = {}
    beacon_rows_facts: list[tuple[str, float, int, bytes, bytes | None]] = []
    latest = 0.0
    results: list[RecordResult] = []
    for request, request_keys in zip(requests, keys):
        received, gpc, settings = request.received, request.gpc, request.settings
        latest = max(latest, received)
        canonical = canonicals.get(request.vid)
        if canonical is None:
            canonical = canonicals[request.vid] = cache.canonical(conn, request.vid)
        profile = profiles.get(canonical)
        if profile is None:
            loaded = cache.take(conn, canonical)
            profile = profiles[canonical] = loaded or Profile(vid=canonical, created=received)
        accepted: list[ev.Event] = []
        for event, key in zip(request.events, request_keys):
            if key in fresh:
                fresh.discard(key)  # the same event again (later in this batch) is a duplicate
                accepted.append(event)
        session_timeout = settings.session_timeout_minutes * 60.0
        pop: dict[str, float] = {}
        pairs: dict[tuple[str, str], float] = {}
        repurchases: list[tuple[str, float]] = []
        for event in accepted:
            if not profile.gpc and not gpc and profile.consent.get("personalization", True):
                _catalog_facts(profile, event, received, session_timeout, pop, pairs, repurchases)
            fold(profile, event, now=received, settings=settings, gpc=gpc)
        if gpc and not profile.gpc:
            profile.gpc = True
            forget_behaviour(profile)
            profile.updated = max(profile.updated, received)
        if accepted or (gpc and request.ignored):
            dirty[canonical] = profile
        if accepted:
            facts = _facts_encoder.encode(_Facts(pop, [(a, b, w) for (a, b), w in pairs.items()], repurchases)) if pop or repurchases else None
            beacon_rows_facts.append((request.vid, received, len(accepted), _events_encoder.encode(accepted), facts))
        results.append(RecordResult(len(accepted), len(request.events) - len(accepted), request.ignored))
    if beacon_rows_facts:
        _insert_rows(conn, "INSERT INTO beacons (vid, received, n, body, facts)", 5, beacon_rows_facts)
    if dirty:
        bodies = {vid: _profile_encoder.encode(p) for vid, p in dirty.items()}
        _insert_rows(conn, "INSERT INTO profiles (vid, updated, body)", 3, [(p.vid, p.updated, bodies[vid]) for vid, p in dirty.items()], UPSERT_PROFILE)
        cache.saved(bodies)
        cache.changed(dirty)
    if cache.catalog_backlog or latest - cache.catalog_folded_at >= CATALOG_FOLD_SECONDS:
        if not cache.catalog_backlog:
            cache.catalog_folded_at = latest
        cache.catalog_backlog = fold_catalog(conn, FOLD_MAX_BEACONS)
    return results


def fold_catalog(conn: sqlite3.Connection, limit: int | None = None) -> bool:
    """Add the catalog facts of the beacons journalled since the last fold (the oldest `limit` of them)
    to the catalog tables, in the caller's transaction; True if more are waiting.

    Each fact is added exactly once: the fold and its `catalog_folded` mark commit together, and
    writers take turns (SQLite's write lock). The tables' rows are written in key order, once per fold.
    """
    (folded,) = conn.execute("SELECT seq FROM catalog_folded WHERE id = 1").fetchone()
    pending = _pending_facts(conn, folded, limit)
    if pending is None:
        return False
    last, count, pop, pop_ts, pairs, repurchases = pending
    half_life = POPULARITY_HALF_LIFE_DAYS * DAY
    if pop:
        _insert_rows(
            conn,
            "INSERT INTO popularity (item, value, ts)",
            3,
            [(item, pop[item], pop_ts[item]) for item in sorted(pop)],
            "ON CONFLICT (item) DO UPDATE SET "
            f"value = popularity.value * pow(0.5, max(0.0, excluded.ts - popularity.ts) / {half_life!r}) + excluded.value, ts = max(popularity.ts, excluded.ts)",
        )
    if pairs:
        _insert_rows(
            conn, "INSERT INTO coviews (a, b, weight)", 3, [(a, b, pairs[(a, b)]) for a, b in sorted(pairs)], "ON CONFLICT (a, b) DO UPDATE SET weight = coviews.weight + excluded.weight"
        )
    if repurchases:
        _insert_rows(
            conn,
            "INSERT INTO repurchase (item, total_days, n)",
            3,
            [(item, *repurchases[item]) for item in sorted(repurchases)],
            "ON CONFLICT (item) DO UPDATE SET total_days = repurchase.total_days + excluded.total_days, n = repurchase.n + excluded.n",
        )
    conn.execute("UPDATE catalog_folded SET seq = ? WHERE id = 1", (last,))
    return limit is not None and count >= limit


def _pending_facts(
    conn: sqlite3.Connection, folded: int, limit: int | None = None
) -> tuple[int, int, dict[str, float], dict[str, float], dict[tuple[str, str], float], dict[str, tuple[float, int]]] | None:
    """The facts of the (first `limit`) beacons after `folded`, summed: (last seq, beacons read, popularity,
    its latest time, coviews, repurchase (days, count)); None if none."""
    rows = conn.execute("SELECT seq, received, facts FROM beacons WHERE seq > ? ORDER BY seq LIMIT ?", (folded, -1 if limit is None else limit)).fetchall()
    if not rows:
        return None
    pop: dict[str, float] = {}
    pop_ts: dict[str, float] = {}
    pairs: dict[tuple[str, str], float] = {}
    repurchases: dict[str, tuple[float, int]] = {}
    for _, received, blob in rows:
        if blob is None:
            continue
        facts = _facts_decoder.decode(blob)
        for item, value in facts.popularity.items():
            pop[item] = pop.get(item, 0.0) + value
            pop_ts[item] = max(pop_ts.get(item, 0.0), received)
        for a, b, weight in facts.coviews:
            pairs[(a, b)] = pairs.get((a, b), 0.0) + weight
        for item, days in facts.repurchases:
            total, n = repurchases.get(item, (0.0, 0))
            repurchases[item] = (total + days, n + 1)
    return rows[-1][0], len(rows), pop, pop_ts, pairs, repurchases


@functools.lru_cache(maxsize=1024)
def _rows_statement(head: str, width: int, rows: int, tail: str) -> str:
    row = "(" + ",".join("?" * width) + ")"
    return f"{head} VALUES {','.join([row] * rows)} {tail}"


def _insert_rows(conn: sqlite3.Connection, head: str, width: int, rows: Sequence[tuple[object, ...]], tail: str = "") -> None:
    """`executemany` in few statements: one per ROWS_PER_STATEMENT rows.

    Why: sqlite3 releases the GIL around every step, and executemany steps once
    per row. Each release lets the busy event loop take the GIL, and getting it
    back can take up to the switch interval (5 ms): the writer's commits
    stretched behind the loop's work. A multi-row statement is one step. Sizes
    are exact (a 10-event beacon is one statement of 10 rows, not 8 + 2: each
    statement costs ~10 us); the connection caches the prepared shapes.
    """
    start = 0
    while start < len(rows):
        size = min(ROWS_PER_STATEMENT, len(rows) - start)
        chunk = rows[start : start + size]
        conn.execute(_rows_statement(head, width, size, tail), [value for row in chunk for value in row])
        start += size


def _insert_keys(conn: sqlite3.Connection, keys: list[tuple[float, int]]) -> set[tuple[float, int]]:
    """Claim events' (ts, event_hash(id)) keys; the ones actually inserted (keys already journalled are ignored).

    The common case (nothing journalled before) is told by the count of rows
    inserted, in a few steps; only when some key existed are the journalled
    ones looked up and the rest inserted. (Not `INSERT ... RETURNING`: SQLite
    3.40 returns the 64-bit hashes as REAL there, rounded.)
    """
    unique = list(dict.fromkeys(keys))
    conn.execute("SAVEPOINT keys")
    before = conn.total_changes
    _insert_rows(conn, "INSERT OR IGNORE INTO event_hashes (ts, h)", 2, unique)
    if conn.total_changes - before == len(unique):
        conn.execute("RELEASE keys")
        return set(unique)
    conn.execute("ROLLBACK TO keys")
    conn.execute("RELEASE keys")
    known: set[tuple[float, int]] = set()
    for start in range(0, len(unique), ROWS_PER_STATEMENT):
        chunk = unique[start : start + ROWS_PER_STATEMENT]
        statement = _rows_statement("SELECT ts, h FROM event_hashes WHERE (ts, h) IN (", 2, len(chunk), ")")
        known.update(conn.execute(statement, [value for key in chunk for value in key]).fetchall())
    fresh = [key for key in unique if key not in known]
    _insert_rows(conn, "INSERT INTO event_hashes (ts, h)", 2, fresh)
    return set(fresh)


def _forget_beacons(conn: sqlite3.Connection, where: str, params: Sequence[object]) -> int:
    """Delete the beacons matching `where` and their event ids; returns the events deleted.

    Their catalog facts are folded first, so deleting a beacon never takes back what it added."""
    fold_catalog(conn)
    deleted = 0
    while True:
        rows = conn.execute(f"SELECT seq, n, body FROM beacons WHERE {where} ORDER BY seq LIMIT 1000", params).fetchall()  # noqa: S608
        if not rows:
            return deleted
        keys = [(e.ts, event_hash(e.id)) for _, _, body in rows for e in _keys_decoder.decode(body)]
        conn.executemany("DELETE FROM event_hashes WHERE ts = ? AND h = ?", keys)
        conn.executemany("DELETE FROM beacons WHERE seq = ?", [(seq,) for seq, _, _ in rows])
        deleted += sum(n for _, n, _ in rows)


def _catalog_facts(
    profile: Profile, event: ev.Event, now: float, session_timeout: float, pop: dict[str, float], pairs: dict[tuple[str, str], float], repurchases: list[tuple[str, float]]
) -> None:
    """Cross-visitor facts, read from the profile *before* the event is folded."""
    kind = type(event)
    weight = _POP_WEIGHT_BY_TYPE.get(kind)
    if weight is None:
        return
    if kind is ev.Purchase:
        for line in event.items:  # type: ignore[attr-defined]
            pop[line.item] = pop.get(line.item, 0.0) + weight
            times = profile.purchases.get(line.item)
            if times and now - times[-1] >= MIN_REPURCHASE_SECONDS:
                repurchases.append((line.item, (now - times[-1]) / DAY))
        return
    item = event.item  # type: ignore[attr-defined]
    if item is None:
        return
    pop[item] = pop.get(item, 0.0) + weight
    if kind is ev.PageView:
        session = profile.session
        viewed = session.viewed
        if viewed and item not in viewed and session.number and now - session.last_seen <= session_timeout:
            for other in list(viewed)[-MAX_COVIEW_PARTNERS:]:
                if other != item:
                    pairs[(item, other)] = pairs.get((item, other), 0.0) + 1.0
                    pairs[(other, item)] = pairs.get((other, item), 0.0) + 1.0


def _link(conn: sqlite3.Connection, vid: str, customer: str, now: float, settings: ProfileSettings, changed: Changed) -> None:
    target = customer_key(customer)
    source = _resolve(conn, vid)
    if source == target:
        return
    into = _load(conn, target) or Profile(vid=target, created=now, customer=customer)
    into.customer = customer
    other = _load(conn, source)
    moved = [vid]
    if other is not None and other.customer in (None, customer):
        merge(into, other, now=now, settings=settings)
        conn.execute("DELETE FROM profiles WHERE vid = ?", (source,))
        moved += [v for (v,) in conn.execute("SELECT vid FROM aliases WHERE canonical = ?", (source,)).fetchall()]
        conn.execute("UPDATE aliases SET canonical = ? WHERE canonical = ?", (target, source))
        moved.append(source)
    else:
        into.updated = max(into.updated, now)
        into.version += 1
    conn.execute("INSERT OR REPLACE INTO aliases (vid, canonical) VALUES (?, ?)", (vid, target))
    _save(conn, into)
    changed([target, *moved])


def _delete(conn: sqlite3.Connection, vid: str, changed: Changed) -> int:
    vids = _linked_vids(conn, vid)
    marks = ",".join("?" * len(vids))
    deleted = _forget_beacons(conn, f"vid IN ({marks})", vids)
    conn.execute(f"DELETE FROM profiles WHERE vid IN ({marks})", vids)  # noqa: S608
    conn.execute(f"DELETE FROM aliases WHERE vid IN ({marks}) OR canonical IN ({marks})", vids + vids)  # noqa: S608
    changed(vids)
    return deleted


def _expire(conn: sqlite3.Connection, cutoff: float, changed: Changed) -> int:
    _forget_beacons(conn, "received < ?", (cutoff,))
    old = [v for (v,) in conn.execute("SELECT vid FROM profiles WHERE updated < ?", (cutoff,)).fetchall()]
    for start in range(0, len(old), 500):
        chunk = old[start : start + 500]
        marks = ",".join("?" * len(chunk))
        aliases = [v for (v,) in conn.execute(f"SELECT vid FROM aliases WHERE canonical IN ({marks})", chunk).fetchall()]  # noqa: S608
        conn.execute(f"DELETE FROM profiles WHERE vid IN ({marks})", chunk)  # noqa: S608
        conn.execute(f"DELETE FROM aliases WHERE canonical IN ({marks})", chunk)  # noqa: S608
        changed(chunk + aliases)
    conn.execute("DELETE FROM popularity WHERE ts < ?", (cutoff,))
    return len(old)
