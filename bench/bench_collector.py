"""Collector throughput and latency, side by side with a do-nothing endpoint.

Starts two uvicorn servers (one worker each, uvloop + httptools) in
subprocesses: Tailor's collector (durable: journal + fold, group commit) and a
plain Starlette endpoint that reads the same body and discards it. A client in
a third process (keep-alive connections of its own, requests built ahead) sends 10-event beacons to each, in two
ways, and prints events/s and latency percentiles side by side with ratios:

- open loop (the goal's measure): beacons leave on a fixed schedule at
  `--rate` events/s from `--visitors` visitors over up to 64 connections;
  latency is counted from each beacon's scheduled time, so a stall delays
  every beacon behind it (no coordinated omission). Goal: the server keeps up
  with 20,000 events/s and p99 < 5 ms.
- closed loop (the ceiling): `--concurrency` connections, each sending its
  next beacon when the last one is answered. Latency there is queueing by
  construction (mean latency = concurrency / throughput): p99 at saturation
  says how the tail degrades, not what a visitor sees at a given load.

Every beacon is new: fresh random event ids shaped like the tag's (no
duplicates, all of them folded and stored), timestamps from the visitor's own clock (each visitor's clock is off
by up to +-2 minutes, as browsers' are), cookies signed with the server's
secret so beacons spread over many profiles.

    python bench/bench_collector.py [--seconds 5] [--rate 20000] [--concurrency 8] [--sync normal|full]
    python bench/bench_collector.py --cpu [--rounds 5]   # in-process CPU per event
    python bench/bench_collector.py --reads [--visitors 1000]   # in-process µs per profile read
    python bench/bench_collector.py --trace [--rate 20000]   # where the slowest beacons spent their time
    ... --spread-ms 2000   # each beacon's events spread over 2 s, as the tag's batches are
    ... --items 5000   # items viewed from a catalog of 5000 (co-views, popularity of many items)

`--cpu` drives the collector's ASGI callable directly (no sockets, no
uvicorn) with the same beacons and concurrency, and reports the process's
CPU time (this process and the journal process) per event: the figure that
stays meaningful on a machine shared with other work.

Rate limits are lifted for the run (one address); goal: >= 20,000 events/s
with p99 < 5 ms. The machine's load average is printed with the figures, and
for each run how many CPUs were busy with other work meanwhile (not this
server, not the bench client): on a shared machine, compare the ratios of one
run, and trust only runs where that column is near 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import collections
import multiprocessing
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
EVENTS_PER_BEACON = 10
MAX_CONNECTIONS = 64  # open loop: beacons in flight at once, at most
CLOCK_SKEW_SECONDS = 120.0
WARM_UP_SECONDS = 2.0  # open loop: the first seconds of each run, at its rate, not counted
CLIENT_NICENESS = 10  # the bench client's scheduling priority, below the servers'


def create_collector_app() -> Any:
    """uvicorn --factory target: the collector with its store, data dir from TAILOR_BENCH_DATA_DIR."""
    from proxy.collector import Collector
    from proxy.identity import VisitorIds, load_or_create_secret
    from proxy.profile_store import ProfileStore
    from proxy.settings import settings_from_dict

    data_dir = os.environ["TAILOR_BENCH_DATA_DIR"]
    sync = os.environ.get("TAILOR_BENCH_SYNC", "normal")
    settings = settings_from_dict({"proxy": {"data_dir": data_dir}, "collector": {"rate_per_second": 1e9, "burst": 1_000_000_000, "sync": sync}})
    ids = VisitorIds(load_or_create_secret(data_dir))
    state: dict[str, Any] = {}
    tracer = _Tracer() if os.environ.get("TAILOR_BENCH_TRACE") == "1" else None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["store"] = await ProfileStore.open(settings)
                    state["collector"] = Collector(settings, state["store"], ids)
                    if tracer is not None:
                        tracer.start(state["store"])
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["store"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/_bench/stats":  # group commits so far, and each thread's CPU seconds
            import json
            import threading

            threads = {thread.name: time.clock_gettime(time.pthread_getcpuclockid(thread.ident)) for thread in threading.enumerate() if thread.ident}
            journal_pid = state["store"]._journal.pid
            threads["journal process"] = _process_cpu_seconds(journal_pid)
            # its main thread writes (decode, fold, commit, acks); the others are the checkpointer
            threads["journal process: checkpoints"] = threads["journal process"] - _thread_cpu_seconds(journal_pid, journal_pid)
            body = json.dumps({"commits": state["store"].journal_commits, "threads": threads, "journal_pid": journal_pid}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if tracer is not None:
            await tracer.serve(scope, receive, send, state["collector"])
            return
        await state["collector"](scope, receive, send)

    return app


class _Tracer:
    """--trace, in the collector server: when each beacon arrived, went to the journal process and
    came back, and was answered (time.perf_counter: CLOCK_MONOTONIC, the same clock as the client's);
    the event loop's lag (a 1 ms ticker) and garbage collection pauses."""

    def __init__(self) -> None:
        import contextvars

        self.requests: dict[int, list[float]] = {}  # beacon number -> [arrived, to journal, from journal, answered]
        self.lags: list[tuple[float, float]] = []
        self.gcs: list[tuple[float, float]] = []
        self._current: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("bench_trace", default=None)

    def start(self, store: Any) -> None:
        import gc

        journal = store._journal
        record, current = journal.record, self._current

        async def traced_record(*args: Any, **kwargs: Any) -> Any:
            stamps = current.get()
            if stamps is not None:
                stamps[1] = time.perf_counter()
            try:
                return await record(*args, **kwargs)
            finally:
                if stamps is not None:
                    stamps[2] = time.perf_counter()

        journal.record = traced_record  # this instance only: the bench's server
        began = [0.0]

        def pause(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                began[0] = time.perf_counter()
            else:
                self.gcs.append((began[0], time.perf_counter()))

        gc.callbacks.append(pause)
        self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append((before, time.perf_counter() - before - 0.001))

    async def serve(self, scope: dict[str, Any], receive: Any, send: Any, collector: Any) -> None:
        if scope["path"] == "/_bench/trace":  # hand over what was traced, start afresh
            import json

            body = json.dumps({"requests": self.requests, "lags": self.lags, "gcs": self.gcs}).encode()
            self.requests, self.lags, self.gcs = {}, [], []
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        number = next((int(value) for name, value in scope["headers"] if name == b"x-bench-n"), None)
        stamps = [time.perf_counter(), 0.0, 0.0, 0.0]
        token = self._current.set(stamps)
        try:
            await collector(scope, receive, send)
        finally:
            self._current.reset(token)
        stamps[3] = time.perf_counter()
        if number is not None:
            self.requests[number] = stamps


def cpu_per_event(rounds: int, beacons: int, concurrency: int, sync: str, visitors: int) -> list[tuple[float, float, float]]:
    """(CPU µs per event, of which the journal process's, wall µs per event) for `rounds` runs of `beacons` 10-event beacons from `visitors` visitors."""
    from proxy.collector import Collector
    from proxy.identity import COOKIE_NAME, VisitorIds, load_or_create_secret
    from proxy.profile_store import ProfileStore
    from proxy.settings import settings_from_dict

    async def run(data_dir: str) -> list[tuple[float, float, float]]:
        settings = settings_from_dict({"proxy": {"data_dir": data_dir}, "collector": {"rate_per_second": 1e9, "burst": 1_000_000_000, "sync": sync}})
        ids = VisitorIds(load_or_create_secret(data_dir))
        store = await ProfileStore.open(settings)
        collector = Collector(settings, store, ids)
        journal_pid = store._journal.pid  # type: ignore[union-attr]
        cookies = [f"{COOKIE_NAME}={ids.sign(ids.new())}".encode() for _ in range(visitors)]
        skews = _skews(visitors)
        rng = random.Random(3)
        base_headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", UA.encode()), (b"content-type", b"text/plain;charset=UTF-8")]

        async def post(cookie: bytes, body: bytes) -> int:
            scope = {"type": "http", "method": "POST", "scheme": "http", "path": "/_tailor/e", "client": ("127.0.0.1", 5000),
                     "headers": [*base_headers, (b"content-length", str(len(body)).encode()), (b"cookie", cookie)]}
            sent = [{"type": "http.request", "body": body, "more_body": False}]
            status = 0

            async def receive() -> dict[str, Any]:
                return sent.pop() if sent else {"type": "http.disconnect"}

            async def send(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]

            await collector(scope, receive, send)
            return status

        async def worker(beacons: list[tuple[bytes, bytes]]) -> None:
            for cookie, body in beacons:
                if await post(cookie, body) != 200:
                    raise RuntimeError("collector refused a beacon")

        figures = []
        try:
            for round_ in range(rounds + 1):  # the first round warms up
                per_worker = [[_visitor_beacon(cookies, skews, rng) for _ in range(beacons // concurrency)] for _ in range(concurrency)]
                cpu, writer, wall = time.process_time(), _process_cpu_seconds(journal_pid), time.perf_counter()
                await asyncio.gather(*(worker(work) for work in per_worker))
                writer = _process_cpu_seconds(journal_pid) - writer
                cpu, wall = time.process_time() - cpu + writer, time.perf_counter() - wall
                events = concurrency * (beacons // concurrency) * EVENTS_PER_BEACON
                if round_:
                    figures.append((cpu / events * 1e6, writer / events * 1e6, wall / events * 1e6))
        finally:
            await store.close()
        return figures

    import uvloop

    with tempfile.TemporaryDirectory() as data_dir:
        return uvloop.run(run(data_dir))


def read_latency(visitors: int, reads: int, sync: str) -> dict[str, list[float]]:
    """µs per `ProfileStore.get_now` of returning visitors (each read once before: cached), on the event loop,
    idle and while the collector's writes run at once (a second store on the same data dir: another worker)."""
    from proxy.collector import Collector
    from proxy.identity import COOKIE_NAME, VisitorIds, load_or_create_secret
    from proxy.profile_store import ProfileStore
    from proxy.settings import settings_from_dict

    async def run(data_dir: str) -> dict[str, list[float]]:
        settings = settings_from_dict(
            {"proxy": {"data_dir": data_dir}, "collector": {"rate_per_second": 1e9, "burst": 1_000_000_000, "sync": sync}, "profiles": {"l1_ttl_seconds": 3600}}
        )
        ids = VisitorIds(load_or_create_secret(data_dir))
        reader, other = await ProfileStore.open(settings), await ProfileStore.open(settings)
        collector = Collector(settings, other, ids)
        vids = [ids.new() for _ in range(visitors)]
        cookies = [f"{COOKIE_NAME}={ids.sign(vid)}".encode() for vid in vids]
        skews = _skews(visitors)
        rng = random.Random(5)
        headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", UA.encode()), (b"content-type", b"text/plain;charset=UTF-8")]

        async def post(cookie: bytes, body: bytes) -> None:
            scope = {"type": "http", "method": "POST", "scheme": "http", "path": "/_tailor/e", "client": ("127.0.0.1", 5000), "headers": [*headers, (b"cookie", cookie)]}
            sent = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                return sent.pop() if sent else {"type": "http.disconnect"}

            async def send(message: Any) -> None:
                pass

            await collector(scope, receive, send)

        def timed_reads(count: int) -> list[float]:
            took = []
            for _ in range(count):
                vid = vids[rng.randrange(visitors)]
                start = time.perf_counter()
                reader.get_now(vid)
                took.append((time.perf_counter() - start) * 1e6)
            return took

        try:
            await asyncio.gather(*(post(cookie, _beacon(skew)) for cookie, skew in zip(cookies, skews)))
            for vid in vids:
                reader.get_now(vid)
            figures = {"idle": timed_reads(reads)}
            writing = True

            async def load() -> None:
                while writing:
                    n = rng.randrange(visitors)
                    await post(cookies[n], _beacon(skews[n]))

            writers = [asyncio.ensure_future(load()) for _ in range(8)]
            took: list[float] = []
            for _ in range(200):
                await asyncio.sleep(0.002)  # let the writers' beacons commit, then read a few pages' worth
                took += timed_reads(reads // 200)
            writing = False
            await asyncio.gather(*writers)
            figures["under collector load"] = took
            return figures
        finally:
            await reader.close()
            await other.close()

    import uvloop

    with tempfile.TemporaryDirectory() as data_dir:
        return uvloop.run(run(data_dir))


def _visitor_beacon(cookies: list[bytes], skews: list[int], rng: random.Random) -> tuple[bytes, bytes]:
    visitor = rng.randrange(len(cookies))
    return cookies[visitor], _beacon(skews[visitor])


def create_baseline_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def discard(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": []})

    return Starlette(routes=[Route("/_tailor/e", discard, methods=["POST"])])


def frozen_after_startup(app: Any) -> Any:
    """`app`, with gc.freeze() once its startup completed: a full collection then skips the
    ~40k objects of the imported modules (6.5 ms for proxy.app's imports alone) instead of
    walking them every time. The app owner is asked to do the same in proxy/app.py."""
    import gc

    write_gc_log: list[Any] = []

    async def frozen(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_then_freeze(message: Any) -> None:
            if message["type"] == "lifespan.shutdown.complete" and write_gc_log:
                write_gc_log[0]()
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                gc.collect()
                gc.freeze()
                if os.environ.get("TAILOR_BENCH_GC_LOG"):
                    write_gc_log.append(_log_gc_pauses(os.environ["TAILOR_BENCH_GC_LOG"]))

        await app(scope, receive, send_then_freeze)

    return frozen


def _log_gc_pauses(path: str) -> Any:
    """Time every collection from now on; returns a function writing them (generation, ms) to `path`."""
    import gc

    pauses: list[tuple[int, float]] = []
    started = [0.0]

    def timing(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], (time.perf_counter() - started[0]) * 1000))

    gc.callbacks.append(timing)
    return lambda: Path(path).write_text("\n".join(f"{gen} {ms:.3f}" for gen, ms in pauses))


def start_server(factory: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", factory, "--fd", str(sock.fileno())]
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(cmd, pass_fds=[sock.fileno()], env=full_env, cwd=REPO)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    return proc, url


def wait_ready(url: str) -> None:
    import httpx

    for _ in range(500):
        try:
            httpx.post(url + "/_tailor/e", content=b"", headers={"user-agent": UA, "content-type": "text/plain"}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.02)
    raise RuntimeError(f"{url} did not start")


_random_ids = random.Random(secrets.randbits(64))


def _event_id() -> str:
    """Like the tag's: four random 32-bit numbers joined by "_" (random, so they do not flatter an id index)."""
    bits = _random_ids.getrandbits
    return f"{bits(32)}_{bits(32)}_{bits(32)}_{bits(32)}"


_spread = {"ms": 0}  # --spread-ms: how far apart in time a beacon's first and last events happened
_catalog = {"items": 0}  # --items: page views of items drawn from a catalog this large (0: item-0 .. item-9 in every beacon)


def _item(n: int) -> int:
    items = _catalog["items"]
    return int(_random_ids.paretovariate(1.2)) % items if items else n  # a few items popular, a long tail


def _beacon(skew_ms: int = 0) -> bytes:
    """Ten page views with fresh ids, stamped by a browser clock `skew_ms` off.

    With no spread they happened 1 ms apart, so their (ts, id) keys are neighbours in the journal's
    de-duplication index; the tag's beacons hold what happened over up to 2 s (--spread-ms 2000),
    keys that land among every other visitor's, about one index page each."""
    spread = _spread["ms"]
    step = max(1, spread // (EVENTS_PER_BEACON - 1))
    ts = int(time.time() * 1000) + skew_ms - step * (EVENTS_PER_BEACON - 1)
    events = ",".join(
        '{"type":"page_view","id":"%s","ts":%d,"url":"/p/%d","item":"item-%d","tags":["t%d","shoes"]}' % (_event_id(), ts + n * step, n, _item(n), n % 7)
        for n in range(EVENTS_PER_BEACON)
    )
    return ('{"events":[%s]}' % events).encode()


def visitor_cookies(data_dir: str | None, count: int) -> list[str]:
    """`count` signed visitor cookies for the collector in `data_dir` (dummies for the baseline)."""
    from proxy.identity import COOKIE_NAME, VisitorIds, load_or_create_secret

    ids = VisitorIds(load_or_create_secret(data_dir) if data_dir else secrets.token_bytes(32))
    return [f"{COOKIE_NAME}={ids.sign(ids.new())}" for _ in range(count)]


def _skews(count: int) -> list[int]:
    rng = random.Random(count)
    return [int(rng.uniform(-CLOCK_SKEW_SECONDS, CLOCK_SKEW_SECONDS) * 1000) for _ in range(count)]


def _summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, Any]:
    latencies.sort()
    count = len(latencies)
    return {
        "beacons": count,
        "errors": errors,
        "events_per_s": count * EVENTS_PER_BEACON / elapsed,
        "p50_ms": latencies[count // 2] * 1000 if count else float("nan"),
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if count else float("nan"),
        "max_ms": latencies[-1] * 1000 if count else float("nan"),
    }


def _request(host: str, cookie: str, body: bytes, number: int | None = None) -> bytes:
    """One beacon as the bytes of a whole HTTP/1.1 request (built before the clock starts)."""
    head = (
        f"POST /_tailor/e HTTP/1.1\r\nhost: {host}\r\nuser-agent: {UA}\r\naccept: */*\r\n"
        f"content-type: text/plain;charset=UTF-8\r\ncookie: {cookie}\r\ncontent-length: {len(body)}\r\n"
        + ("" if number is None else f"x-bench-n: {number}\r\n")
        + "\r\n"
    )
    return head.encode() + body


class _Connection(asyncio.Protocol):
    """A keep-alive client connection that sends prebuilt requests and reads just enough of each
    response (status, content-length) to know it ended: the client's CPU per beacon stays a small
    fraction of the server's, so on a shared 2-CPU machine it takes little from the server it measures
    (an aiohttp client with beacons built on the fly spent ~225 µs of CPU per beacon, about the server's
    whole cost)."""

    def __init__(self, answered: Any) -> None:
        self._answered = answered
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower() + b"\r\n"
            at = head.find(b"\r\ncontent-length:")
            length = int(head[at + 17 : head.find(b"\r\n", at + 2)]) if at >= 0 else 0
            if len(buffer) < end + 4 + length:
                return
            del buffer[: end + 4 + length]
            self._answered(self, int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._answered(self, 0)


async def _connect(url: str, answered: Any) -> _Connection:
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    _, protocol = await asyncio.get_running_loop().create_connection(lambda: _Connection(answered), host, int(port))
    protocol.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
    return protocol


async def _closed_loop(url: str, seconds: float, concurrency: int, cookies: list[str]) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    host = url.rsplit("/", 1)[1]
    skews = _skews(concurrency)
    end = 0.0
    # connection -> [its visitor, the next request (built while this one is in flight), start of the one in flight, done]
    state: dict[_Connection, list[Any]] = {}

    def beacon_request(n: int) -> bytes:
        return _request(host, cookies[n % len(cookies)], _beacon(skews[n]))

    def answered(conn: _Connection, status: int) -> None:
        nonlocal errors
        entry = state.get(conn)
        if entry is None or entry[2] is None:
            return
        now = time.perf_counter()
        if status == 200:
            latencies.append(now - entry[2])
        else:
            errors += 1
        entry[2] = None
        if status and now < end:
            entry[2] = time.perf_counter()
            conn.send(entry[1])
            entry[1] = beacon_request(entry[0])
        elif not entry[3].done():
            entry[3].set_result(None)

    conns = [await _connect(url, answered) for _ in range(concurrency)]
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    end = began + seconds
    for n, conn in enumerate(conns):
        state[conn] = [n, beacon_request(n), time.perf_counter(), loop.create_future()]
        conn.send(beacon_request(n))
    await asyncio.gather(*(entry[3] for entry in state.values()))
    elapsed = time.perf_counter() - began
    for conn in conns:
        conn.transport.close()  # type: ignore[union-attr]
    return _summary(latencies, errors, elapsed)


async def _open_loop(url: str, seconds: float, rate: float, cookies: list[str], trace: bool = False, warmup: float = 0.0) -> dict[str, Any]:
    """Beacons at fixed times (rate/10 per second); latency from each one's scheduled time.
    With `trace`, each beacon carries its number and the result has its (due, sent, answered) times.
    The first `warmup` seconds run at the same rate and are not counted: the server reaches its steady
    state (WAL length, checkpoints, caches) without an idle gap between warm-up and measurement.

    Every request is built before the clock starts; a beacon goes out on an idle connection, or a new
    one (up to MAX_CONNECTIONS), else waits for the first connection to come free (its wait counts)."""
    host = url.rsplit("/", 1)[1]
    interval = EVENTS_PER_BEACON / rate
    skews = _skews(len(cookies))
    rng = random.Random(7)
    warm = int(warmup / interval)
    total = warm + int(seconds / interval)
    visitors = [rng.randrange(len(cookies)) for _ in range(total)]
    requests = [_request(host, cookies[v], _beacon(skews[v]), n if trace else None) for n, v in enumerate(visitors)]
    latencies: list[float] = []
    errors = 0
    timeline: dict[int, tuple[float, float, float]] = {}
    idle: list[_Connection] = []
    waiting: collections.deque[tuple[float, int]] = collections.deque()
    in_flight: dict[_Connection, tuple[float, int, float]] = {}
    connections = 0
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    answered_count = 0

    def send(conn: _Connection, due: float, number: int) -> None:
        in_flight[conn] = (due, number, time.perf_counter())
        conn.send(requests[number])

    def answered(conn: _Connection, status: int) -> None:
        nonlocal errors, answered_count, connections
        flight = in_flight.pop(conn, None)
        if flight is None:
            if not status and conn in idle:  # an idle connection the server closed (keep-alive timeout)
                idle.remove(conn)
                connections -= 1
            return
        now = time.perf_counter()
        due, number, sent = flight
        if number < warm:
            pass
        elif status == 200:
            latencies.append(now - due)
            if trace:
                timeline[number] = (due, sent, now)
        else:
            errors += 1
        answered_count += 1
        if status:
            if waiting:
                send(conn, *waiting.popleft())
            else:
                idle.append(conn)
        else:
            connections -= 1
        if answered_count == total and not finished.done():
            finished.set_result(None)

    async def open_and_send(due: float, number: int) -> None:
        nonlocal errors, answered_count, connections
        try:
            conn = await _connect(url, answered)
        except OSError:
            connections -= 1
            errors += number >= warm
            answered_count += 1
            return
        if waiting and waiting[0][0] < due:  # an older beacon is waiting: it goes first
            waiting.append((due, number))
            due, number = waiting.popleft()
        send(conn, due, number)

    for _ in range(8):  # a few connections ready, as a browser population keeps them
        connections += 1
        idle.append(await _connect(url, answered))
    tasks = []
    gc.collect()
    gc.disable()  # the client's own collections would show up as the server's latency
    cpu_began = time.process_time()  # the client's CPU while it sends (not while it builds the requests)
    began = time.perf_counter()
    for n in range(total):
        due = began + n * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if idle:
            send(idle.pop(), due, n)
        elif connections < MAX_CONNECTIONS:
            connections += 1
            tasks.append(asyncio.ensure_future(open_and_send(due, n)))
        else:
            waiting.append((due, n))
    if total:
        await finished
    elapsed = time.perf_counter() - began - warm * interval
    gc.enable()
    await asyncio.gather(*tasks)
    for conn in [*idle, *in_flight]:
        conn.transport.close()  # type: ignore[union-attr]
    result = _summary(latencies, errors, elapsed)
    result["beacons_sent"] = total  # with the warm-up's: the server's and the client's CPU figures count them all
    result["client_cpu_s"] = time.process_time() - cpu_began
    if trace:
        result["timeline"] = timeline
    return result


def _client_process(
    url: str, seconds: float, concurrency: int, rate: float, cookies: list[str], out: Any, trace: bool = False, spread_ms: int = 0, items: int = 0, warmup: float = 0.0
) -> None:
    import uvloop

    # Yield the CPUs to the servers it measures: real clients run on other machines. Conservative for
    # latency: a client held back sends late, and latency counts from each beacon's scheduled time.
    os.nice(CLIENT_NICENESS)
    _spread["ms"], _catalog["items"] = spread_ms, items
    driver = _open_loop(url, seconds, rate, cookies, trace, warmup) if rate else _closed_loop(url, seconds, concurrency, cookies)
    started = time.process_time()
    result = uvloop.run(driver)
    result.setdefault("client_cpu_s", time.process_time() - started)
    result["client_total_cpu_s"] = time.process_time()  # with its start-up (imports): for the "other CPUs" figure
    out.send(result)


def measure(url: str, seconds: float, *, concurrency: int = 8, rate: float = 0, cookies: list[str], trace: bool = False, warmup: float = 0.0) -> dict[str, Any]:
    """One client run in its own process: closed loop at `concurrency`, or open loop at `rate` events/s."""
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_client_process, args=(url, seconds, concurrency, rate, cookies, child, trace, _spread["ms"], _catalog["items"], warmup))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def serve(factory: str, fd: int) -> None:
    """Child process: run `factory` under uvicorn on the inherited listening socket.

    (Not `uvicorn --fd`: it rebuilds the socket as AF_UNIX, so asyncio skips
    TCP_NODELAY and every response waits ~40 ms for a delayed ACK.)
    """
    import importlib

    import uvicorn

    module, name = factory.split(":")
    app = frozen_after_startup(getattr(importlib.import_module(module), name)())
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    if "--serve" in sys.argv:
        serve(sys.argv[sys.argv.index("--serve") + 1], int(sys.argv[sys.argv.index("--fd") + 1]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8, help="closed loop: connections, each with its own visitor")
    parser.add_argument("--rate", type=float, default=20_000, help="open loop: events/s offered (beacons of 10)")
    parser.add_argument("--visitors", type=int, default=1000, help="open loop and --cpu: visitors the beacons come from")
    parser.add_argument("--sync", choices=["normal", "full"], default="normal")
    parser.add_argument("--items", type=int, default=0, help="page views of items from a catalog this large, a few popular (0: the same ten items in every beacon)")
    parser.add_argument("--spread-ms", type=int, default=0, help="a beacon's events happened over this many ms (the tag batches up to 2000); 0: 1 ms apart")
    parser.add_argument("--cpu", action="store_true", help="in-process CPU per event instead of HTTP throughput")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--beacons", type=int, default=2000)
    parser.add_argument("--reads", action="store_true", help="in-process µs per profile read (returning visitors), idle and under collector load")
    parser.add_argument("--gc", action="store_true", help="also print the collector server's garbage collection pauses")
    parser.add_argument("--trace", action="store_true", help="open loop on the collector only: where the slowest beacons spent their time")
    args = parser.parse_args()
    _spread["ms"] = max(0, args.spread_ms)
    _catalog["items"] = max(0, args.items)
    if args.trace:
        trace_run(args.seconds, args.rate, args.visitors, args.sync)
        return
    if args.reads:
        print(f"ProfileStore.get_now of {args.visitors} returning visitors (read once before), µs per read on the event loop")
        print(f"  {'':22} {'mean':>7} {'p50':>7} {'p99':>7} {'max':>8}")
        for name, took in read_latency(args.visitors, 20_000, args.sync).items():
            took.sort()
            print(f"  {name:22} {sum(took) / len(took):7.2f} {took[len(took) // 2]:7.2f} {took[int(len(took) * 0.99)]:7.2f} {took[-1]:8.1f}")
        return
    if args.cpu:
        figures = cpu_per_event(args.rounds, args.beacons, args.concurrency, args.sync, args.visitors)
        cpus = sorted(cpu for cpu, _, _ in figures)
        print(f"in-process, {args.beacons} 10-event beacons (events {max(1, args.spread_ms // 9)} ms apart) per round from {args.visitors} visitors, concurrency {args.concurrency}, sync={args.sync}")
        print("CPU µs/event per round: " + " ".join(f"{cpu:.1f}" for cpu, _, _ in figures) + f"  (min {cpus[0]:.1f}, median {cpus[len(cpus) // 2]:.1f})")
        print("  of which the journal process: " + " ".join(f"{writer:.1f}" for _, writer, _ in figures))
        print("wall µs/event per round: " + " ".join(f"{wall:.1f}" for _, _, wall in figures))
        print(f"CPU-bound ceiling on one core: {1e6 / cpus[len(cpus) // 2]:,.0f} events/s")
        return
    with tempfile.TemporaryDirectory() as data_dir:
        gc_log = str(Path(data_dir) / "gc.log")
        visitors = {"starlette discard": visitor_cookies(None, args.visitors), "tailor collector": visitor_cookies(data_dir, args.visitors)}
        servers = {
            "starlette discard": start_server("bench.bench_collector:create_baseline_app", {}),
            "tailor collector": start_server(
                "bench.bench_collector:create_collector_app",
                {"TAILOR_BENCH_DATA_DIR": data_dir, "TAILOR_BENCH_SYNC": args.sync, **({"TAILOR_BENCH_GC_LOG": gc_log} if args.gc else {})},
            ),
        }
        try:
            open_loop: dict[str, dict[str, Any]] = {}
            closed_loop: dict[str, dict[str, Any]] = {}
            for name, (proc, url) in servers.items():
                wait_ready(url)
                # Warm up the way the goal is measured, in the same run: at the offered rate, with no pause
                # before the counted part. (A closed-loop warm-up at full speed left its WAL and catalog backlog
                # to the open loop's first 0.3 s; a separate warm-up left the server idle while the next client
                # started: either way the slowest 1% sat at the start.)
                ours = url if name == "tailor collector" else None
                open_loop[name] = _with_server_cpu(proc.pid, lambda: measure(url, args.seconds, rate=args.rate, cookies=visitors[name], warmup=WARM_UP_SECONDS), ours)
                closed_loop[name] = _with_server_cpu(proc.pid, lambda: measure(url, args.seconds, concurrency=args.concurrency, cookies=visitors[name]), ours)
            import sqlite3

            conn = sqlite3.connect(Path(data_dir) / "tailor.sqlite3")
            stored = conn.execute("SELECT coalesce(sum(n), 0) FROM beacons").fetchone()[0]
            conn.close()
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
        gc_pauses = Path(gc_log).read_text().split("\n") if args.gc and Path(gc_log).exists() else []
    print(f"10-event beacons (events {max(1, args.spread_ms // 9)} ms apart, items {args.items or 'item-0..9'}), {args.seconds:g} s per run, sync={args.sync}, one uvicorn worker, {args.visitors} visitors; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    _table(f"open loop at {args.rate:,.0f} events/s offered (latency from the scheduled send time)", open_loop)
    _table(f"closed loop, {args.concurrency} connections (the ceiling; latency = concurrency / throughput)", closed_loop)
    answered = sum(r["beacons"] * EVENTS_PER_BEACON for r in (open_loop["tailor collector"], closed_loop["tailor collector"]))
    print(f"events in the journal: {stored} of {answered} answered 200, plus the warm-up (durable: each 200 was sent after its commit)")
    if args.gc:
        _gc_table([line.split() for line in gc_pauses if line])
    ours = open_loop["tailor collector"]
    kept_up = ours["errors"] == 0 and ours["events_per_s"] >= 0.99 * args.rate
    goal = args.rate >= 20_000 and kept_up and ours["p99_ms"] < 5
    print(f"goal: keeps up with >= 20,000 events/s with p99 < 5 ms: {'met' if goal else 'NOT met'}")


def trace_run(seconds: float, rate: float, visitors: int, sync: str) -> None:
    """--trace: one open loop against the collector, every beacon's time split into stages."""
    import httpx

    with tempfile.TemporaryDirectory() as data_dir:
        proc, url = start_server("bench.bench_collector:create_collector_app", {"TAILOR_BENCH_DATA_DIR": data_dir, "TAILOR_BENCH_SYNC": sync, "TAILOR_BENCH_TRACE": "1"})
        try:
            wait_ready(url)
            cookies = visitor_cookies(data_dir, visitors)
            measure(url, 0.5, rate=rate, cookies=cookies)  # the first connections and imports
            httpx.get(url + "/_bench/trace")  # forget the warm-up
            result = measure(url, seconds, rate=rate, cookies=cookies, trace=True, warmup=WARM_UP_SECONDS)
            server = httpx.get(url + "/_bench/trace", timeout=30).json()
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"trace: open loop at {rate:,.0f} events/s for {seconds:g} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"  latency p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.2f} ms")
    stages = ("client late", "to the server", "before the journal", "journal round trip", "after the journal", "back to the client")
    rows = []
    for number, (due, sent, answered) in result["timeline"].items():
        stamps = server["requests"].get(str(number))
        if stamps is None or not stamps[1]:
            continue
        arrived, to_journal, from_journal, done = stamps
        rows.append((answered - due, due, (sent - due, arrived - sent, to_journal - arrived, from_journal - to_journal, done - from_journal, answered - done)))
    rows.sort()
    slowest = rows[-max(1, len(rows) // 100) :]
    print(f"  {'stage (ms)':22} {'all: p50':>9} {'p99':>7} {'slowest 1%: p50':>16} {'max':>7}")
    for index, stage in enumerate(stages):
        every = sorted(row[2][index] for row in rows)
        worst = sorted(row[2][index] for row in slowest)
        print(f"  {stage:22} {every[len(every) // 2] * 1e3:9.2f} {every[int(len(every) * 0.99)] * 1e3:7.2f} {worst[len(worst) // 2] * 1e3:16.2f} {worst[-1] * 1e3:7.2f}")
    start = min(row[1] for row in rows)
    times = sorted(row[1] - start for row in slowest)
    clusters: list[list[float]] = []
    for at in times:
        if clusters and at - clusters[-1][-1] < 0.02:
            clusters[-1].append(at)
        else:
            clusters.append([at])
    print(f"  slowest 1% in {len(clusters)} clusters (gaps < 20 ms), starting at (s): " + ", ".join(f"{c[0]:.2f} ({len(c)})" for c in clusters[:12]))
    lags = sorted(lag for _, lag in server["lags"])
    if lags:
        print(f"  event loop lag (1 ms ticker): p50 {lags[len(lags) // 2] * 1e3:.2f} ms, p99 {lags[int(len(lags) * 0.99)] * 1e3:.2f} ms, max {lags[-1] * 1e3:.2f} ms")
    pauses = [end - begin for begin, end in server["gcs"]]
    print(f"  garbage collections: {len(pauses)}, total {sum(pauses) * 1e3:.1f} ms, longest {max(pauses, default=0) * 1e3:.2f} ms")


def _gc_table(pauses: list[list[str]]) -> None:
    print("collector server's garbage collections over the whole run (warm-ups included):")
    for generation in ("0", "1", "2"):
        times = sorted(float(ms) for gen, ms in pauses if gen == generation)
        if times:
            print(f"  generation {generation}: {len(times):6d} collections, total {sum(times):8.1f} ms, p99 {times[int(len(times) * 0.99)]:6.2f} ms, max {times[-1]:6.2f} ms")


def _with_server_cpu(pid: int, run: Any, url: str | None = None) -> dict[str, Any]:
    """`run()`'s figures plus the server's CPU per event meanwhile (every thread, and the journal process): the
    figure that holds on a shared machine, where latency depends on everyone's load; and with
    `url` (the collector's), the events per group commit."""
    stats = _stats(url) if url else {}
    pids = [pid, stats["journal_pid"]] if url else [pid]
    before, machine, began = sum(map(_process_cpu_seconds, pids)), _machine_busy_seconds(), time.perf_counter()
    result: dict[str, Any] = run()
    events = result.get("beacons_sent", result["beacons"]) * EVENTS_PER_BEACON
    server = sum(map(_process_cpu_seconds, pids)) - before
    result["cpu_us_per_event"] = server / events * 1e6 if events else float("nan")
    # CPUs busy with anything but this server and the bench client meanwhile (other people's work)
    result["other_cpus"] = max(0.0, _machine_busy_seconds() - machine - server - result["client_total_cpu_s"]) / (time.perf_counter() - began)
    if url and events:
        after = _stats(url)
        result["events_per_commit"] = events / max(1, after["commits"] - stats["commits"])
        result["threads_us_per_event"] = {name: (cpu - stats["threads"].get(name, 0.0)) / events * 1e6 for name, cpu in after["threads"].items()}
    return result


def _stats(url: str) -> dict[str, Any]:
    import httpx

    stats: dict[str, Any] = httpx.get(url + "/_bench/stats").json()
    return stats


def _machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _thread_cpu_seconds(pid: int, tid: int) -> float:
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _table(title: str, results: dict[str, dict[str, Any]]) -> None:
    print(title)
    print(f"  {'':20} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} {'server CPU us/event':>20} {'other CPUs busy':>16}")
    for name, r in results.items():
        print(
            f"  {name:20} {r['events_per_s']:10.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['max_ms']:8.2f} {r['errors']:7d} {r['cpu_us_per_event']:20.1f} {r['other_cpus']:16.2f}"
        )
    base, ours = results["starlette discard"], results["tailor collector"]
    ratios = [ours[key] / base[key] for key in ("events_per_s", "p50_ms", "p99_ms", "max_ms")]
    cpu_ratio = ours["cpu_us_per_event"] / base["cpu_us_per_event"]
    print(f"  {'ratio (tailor/base)':20} {ratios[0]:10.2f} {ratios[1]:8.2f} {ratios[2]:8.2f} {ratios[3]:8.2f} {'':7} {cpu_ratio:20.2f}")
    sent = {name: r.get("beacons_sent", r["beacons"]) * EVENTS_PER_BEACON for name, r in results.items()}
    print(f"  bench client CPU us/event: starlette run {base['client_cpu_s'] / max(1, sent['starlette discard']) * 1e6:.1f}, tailor run {ours['client_cpu_s'] / max(1, sent['tailor collector']) * 1e6:.1f} (on the same CPUs as the servers)")
    if "events_per_commit" in ours:
        threads = ", ".join(f"{name} {us:.1f}" for name, us in ours["threads_us_per_event"].items())
        print(f"  tailor: {ours['events_per_commit']:.1f} events per group commit; CPU us/event by thread: {threads}")


if __name__ == "__main__":
    main()
