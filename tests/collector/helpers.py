"""Building beacons for tests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import msgspec

_counter = itertools.count()


def event_id() -> str:
    return uuid.uuid4().hex


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "id": fields.pop("id", None) or event_id(), "ts": fields.pop("ts", 1_700_000_000_000 + next(_counter)), **fields}


def beacon(*events: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"events": list(events)})


def stored_ids(data_dir: str) -> list[str]:
    """Ids of every journalled event, in journal order; checks the dedup keys agree with the beacons."""
    import sqlite3

    from proxy.journal import db_path, event_hash
    from proxy.profile_store import iter_events

    path = db_path(data_dir)
    ids = [e.id for _, _, e in iter_events(path)]
    conn = sqlite3.connect(path)
    try:
        keys = set(conn.execute("SELECT ts, h FROM event_hashes").fetchall())
    finally:
        conn.close()
    assert {(e.ts, event_hash(e.id)) for _, _, e in iter_events(path)} <= keys, "a journalled event has no dedup key"
    return ids
