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
