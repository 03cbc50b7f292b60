"""kill -9 under load: every event that got a 2xx is in the journal exactly once after restart."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.collector.conftest import HEADERS
from tests.collector.helpers import beacon, event, stored_ids

CLIENTS = 8
UNLIMITED = {"rate_per_second": 1e6, "burst": 1_000_000}


async def _client(url: str, acked: list[dict[str, Any]], stop: threading.Event) -> None:
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=5) as client:
        while not stop.is_set():
            events = [event("page_view", item=f"i{n}") for n in range(10)]
            try:
                response = await client.post("/_tailor/e", content=beacon(*events))
            except httpx.TransportError:
                return  # the server died under us: this beacon was never acknowledged
            if response.status_code == 200:
                assert response.json()["accepted"] == 10
                acked.extend(events)


def _load(url: str, acked: list[dict[str, Any]], stop: threading.Event) -> None:
    async def main() -> None:
        await asyncio.gather(*(_client(url, acked, stop) for _ in range(CLIENTS)))

    asyncio.run(main())


def test_acknowledged_events_survive_sigkill(spawn: Any, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    server = spawn(data_dir, **UNLIMITED)
    acked: list[dict[str, Any]] = []
    stop = threading.Event()
    loader = threading.Thread(target=_load, args=(server.url, acked, stop))
    loader.start()
    deadline = 200
    while len(acked) < 2_000 and deadline:  # well into the load
        threading.Event().wait(0.05)
        deadline -= 1
    server.kill()  # SIGKILL mid-load: clients still have beacons in flight
    loader.join(30)
    stop.set()
    assert len(acked) >= 2_000
    restarted = spawn(data_dir, **UNLIMITED)
    stored = stored_ids(data_dir)
    assert len(stored) == len(set(stored))
    missing = {e["id"] for e in acked} - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost"
    # replaying what was acknowledged (the tag resends events unchanged) stores nothing twice
    with httpx.Client(base_url=restarted.url, headers=HEADERS) as client:
        replay = client.post("/_tailor/e", content=beacon(*acked[:100]))
    assert replay.json()["duplicates"] == 100 and replay.json()["accepted"] == 0
