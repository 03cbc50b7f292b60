"""Collector throughput and latency, side by side with a do-nothing endpoint.

Starts two uvicorn servers (one worker each, uvloop + httptools) in
subprocesses: Tailor's collector (durable: journal + fold, group commit) and a
plain Starlette endpoint that reads the same body and discards it. A client in
a third process (aiohttp, fixed concurrency, keep-alive) sends 10-event
beacons to each for a few seconds and reports events/s and latency
percentiles, then the ratios.

    python bench/bench_collector.py [--seconds 5] [--concurrency 8] [--sync normal|full]
    python bench/bench_collector.py --cpu [--rounds 5]   # in-process CPU per event

`--cpu` drives the collector's ASGI callable directly (no sockets, no
uvicorn) with the same beacons and concurrency, and reports the process's
CPU time (every thread: loop + journal writer) per event: the figure that
stays meaningful on a machine shared with other work.

Rate limits are lifted for the run (one address, few visitors); goal:
>= 20,000 events/s with p99 < 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
EVENTS_PER_BEACON = 10


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

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["store"] = await ProfileStore.open(settings)
                    state["collector"] = Collector(settings, state["store"], ids)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["store"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await state["collector"](scope, receive, send)

    return app


def cpu_per_event(rounds: int, beacons: int, concurrency: int, sync: str) -> list[tuple[float, float, float]]:
    """(CPU µs per event, of which the journal writer thread's, wall µs per event) for `rounds` runs of `beacons` 10-event beacons."""
    from proxy.collector import Collector
    from proxy.identity import COOKIE_NAME, VisitorIds, load_or_create_secret
    from proxy.profile_store import ProfileStore
    from proxy.settings import settings_from_dict

    async def run(data_dir: str) -> list[tuple[float, float, float]]:
        settings = settings_from_dict({"proxy": {"data_dir": data_dir}, "collector": {"rate_per_second": 1e9, "burst": 1_000_000_000, "sync": sync}})
        ids = VisitorIds(load_or_create_secret(data_dir))
        store = await ProfileStore.open(settings)
        collector = Collector(settings, store, ids)
        writer_clock = time.pthread_getcpuclockid(store._writer._thread.ident)  # type: ignore[arg-type]
        cookies = [f"{COOKIE_NAME}={ids.sign(ids.new())}".encode() for _ in range(concurrency)]
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

        async def worker(cookie: bytes, bodies: list[bytes]) -> None:
            for body in bodies:
                if await post(cookie, body) != 200:
                    raise RuntimeError("collector refused a beacon")

        figures = []
        try:
            for round_ in range(rounds + 1):  # the first round warms up
                per_worker = [[_beacon() for _ in range(beacons // concurrency)] for _ in range(concurrency)]
                cpu, writer, wall = time.process_time(), time.clock_gettime(writer_clock), time.perf_counter()
                await asyncio.gather(*(worker(cookie, bodies) for cookie, bodies in zip(cookies, per_worker)))
                cpu, writer, wall = time.process_time() - cpu, time.clock_gettime(writer_clock) - writer, time.perf_counter() - wall
                events = concurrency * (beacons // concurrency) * EVENTS_PER_BEACON
                if round_:
                    figures.append((cpu / events * 1e6, writer / events * 1e6, wall / events * 1e6))
        finally:
            await store.close()
        return figures

    import uvloop

    with tempfile.TemporaryDirectory() as data_dir:
        return uvloop.run(run(data_dir))


def create_baseline_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def discard(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": []})

    return Starlette(routes=[Route("/_tailor/e", discard, methods=["POST"])])


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


def _beacon() -> bytes:
    ts = int(time.time() * 1000)
    events = ",".join(
        '{"type":"page_view","id":"%s","ts":%d,"url":"/p/%d","item":"item-%d","tags":["t%d","shoes"]}' % (uuid.uuid4().hex, ts, n, n, n % 7)
        for n in range(EVENTS_PER_BEACON)
    )
    return ('{"events":[%s]}' % events).encode()


async def _drive(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def worker(n: int) -> None:
            nonlocal errors
            headers = {"user-agent": UA, "content-type": "text/plain;charset=UTF-8"}
            async with session.post(url + "/_tailor/e", data=_beacon(), headers=headers) as response:  # get a visitor cookie
                cookie = response.headers.get("set-cookie")
                await response.read()
            if cookie:
                headers["cookie"] = cookie.split(";", 1)[0]
            bodies = [_beacon() for _ in range(2)]
            end = time.perf_counter() + seconds
            i = 0
            while time.perf_counter() < end:
                body = _beacon() if i % 2 else bodies[i % 2]  # fresh ids: nothing is a duplicate... mostly
                i += 1
                start = time.perf_counter()
                async with session.post(url + "/_tailor/e", data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                        continue
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    count = len(latencies)
    return {
        "beacons": count,
        "errors": errors,
        "events_per_s": count * EVENTS_PER_BEACON / elapsed,
        "p50_ms": latencies[count // 2] * 1000 if count else float("nan"),
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if count else float("nan"),
    }


def _client_process(url: str, seconds: float, concurrency: int, out: Any) -> None:
    out.send(asyncio.run(_drive(url, seconds, concurrency)))


def measure(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_client_process, args=(url, seconds, concurrency, child))
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
    app = getattr(importlib.import_module(module), name)()
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    if "--serve" in sys.argv:
        serve(sys.argv[sys.argv.index("--serve") + 1], int(sys.argv[sys.argv.index("--fd") + 1]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sync", choices=["normal", "full"], default="normal")
    parser.add_argument("--cpu", action="store_true", help="in-process CPU per event instead of HTTP throughput")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--beacons", type=int, default=2000)
    args = parser.parse_args()
    if args.cpu:
        figures = cpu_per_event(args.rounds, args.beacons, args.concurrency, args.sync)
        cpus = sorted(cpu for cpu, _, _ in figures)
        print(f"in-process, {args.beacons} 10-event beacons per round, concurrency {args.concurrency}, sync={args.sync}")
        print("CPU µs/event per round: " + " ".join(f"{cpu:.1f}" for cpu, _, _ in figures) + f"  (min {cpus[0]:.1f}, median {cpus[len(cpus) // 2]:.1f})")
        print("  of which journal writer thread: " + " ".join(f"{writer:.1f}" for _, writer, _ in figures))
        print("wall µs/event per round: " + " ".join(f"{wall:.1f}" for _, _, wall in figures))
        print(f"CPU-bound ceiling on one core: {1e6 / cpus[len(cpus) // 2]:,.0f} events/s")
        return
    with tempfile.TemporaryDirectory() as data_dir:
        servers = {
            "starlette discard": start_server("bench.bench_collector:create_baseline_app", {}),
            "tailor collector": start_server("bench.bench_collector:create_collector_app", {"TAILOR_BENCH_DATA_DIR": data_dir, "TAILOR_BENCH_SYNC": args.sync}),
        }
        try:
            results = {}
            for name, (_, url) in servers.items():
                wait_ready(url)
                measure(url, 0.5, args.concurrency)  # warm-up
                results[name] = measure(url, args.seconds, args.concurrency)
            import sqlite3

            conn = sqlite3.connect(Path(data_dir) / "tailor.sqlite3")
            stored = conn.execute("SELECT coalesce(sum(n), 0) FROM beacons").fetchone()[0]
            conn.close()
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
    base, ours = results["starlette discard"], results["tailor collector"]
    print(f"10-event beacons, concurrency {args.concurrency}, {args.seconds:g} s each, sync={args.sync}, one uvicorn worker")
    print(f"{'':20} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:20} {r['events_per_s']:10.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:7d}")
    print(f"{'ratio (tailor/base)':20} {ours['events_per_s'] / base['events_per_s']:10.2f} {ours['p50_ms'] / base['p50_ms']:8.2f} {ours['p99_ms'] / base['p99_ms']:8.2f}")
    print(f"events in the journal: {stored} (durable: every 200 was committed before it was sent)")
    goal = ours["events_per_s"] >= 20_000 and ours["p99_ms"] < 5
    print(f"goal >= 20,000 events/s with p99 < 5 ms: {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
