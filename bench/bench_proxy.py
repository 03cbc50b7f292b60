"""Forwarding overhead, side by side: origin direct, a plain aiohttp passthrough, and Tailor.

    python bench/bench_proxy.py [--seconds 4] [--concurrency 32] [--clients aiohttp,httpx-aiohttp,httpx]

Starts (each in its own process): an origin serving a ~60 KB HTML page with
three marked slots and a 10 KB asset; a plain Starlette-free ASGI
passthrough using one aiohttp session (the floor a Python proxy can reach);
and Tailor with each upstream client. A separate client process drives each
target with keep-alive connections at c=1 and at a fixed higher concurrency
and prints p50, p99 and req/s, with Tailor's added latency and throughput
ratio against the passthrough, and the server process's CPU time per
request (from /proc: steadier than req/s on a shared machine). Goals
(issue 2): added p50 <= 1 ms and p99 <= 3 ms at c=1 on the HTML page;
throughput >= 0.8 of the passthrough.

Pages are fetched as two kinds of visitor: a new one (no cookie: Tailor
mints an id and sets its cookie on every response) and a returning one (a
signed cookie and a stored profile, made by posting a page view to the
collector first, so Tailor reads the profile on every page). Most traffic
of a real shop is the second kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def page_60k() -> bytes:
    items = "".join(
        f'<article data-item="p{i}" data-tags="{t},outdoor" data-title="Product {i}" data-url="/p/p{i}" '
        f'data-image="/img/p{i}.svg" data-price="${i}.00"><h3>Product {i}</h3><p>Nice thing.</p></article>'
        for i, t in zip(range(8), ["camping", "hiking", "running", "cycling"] * 2)
    )
    recs = '<template data-item-template><a href="{url}" data-item="{id}">{title} {price}</a></template>' + "".join(
        f'<a data-item="r{i}" data-tags="hiking" data-title="Rec {i}" data-url="/p/r{i}" href="/p/r{i}">Rec {i}</a>' for i in range(4)
    )
    filler = "".join(f"<p class=\"copy\">Paragraph {i}: " + "lorem ipsum dolor sit amet " * 20 + "</p>\n" for i in range(100))
    html = (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Bench shop</title>"
        "<link rel=\"stylesheet\" href=\"/asset.css\"></head><body><header><nav>Home</nav></header>"
        f"<div data-slot=\"home-hero\" data-slot-type=\"carousel\">{items}</div>"
        f"<section data-slot=\"home-recs\" data-slot-type=\"recommendations\" data-limit=\"4\">{recs}</section>"
        "<div data-slot=\"promo\" data-slot-type=\"variant\"><p>Free shipping</p>"
        "<template data-variant=\"urgent\"><p>Hurry</p></template></div>"
        f"<main>{filler}</main></body></html>"
    )
    return html.encode()


# ----------------------------------------------------------------- servers

def run_origin(port: int) -> None:
    import uvicorn

    page = page_60k()
    asset = b"/*css*/" + b"a{color:red}" * 850

    async def app(scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await receive()
                await send({"type": "lifespan.startup.complete"})
                await receive()
                await send({"type": "lifespan.shutdown.complete"})
            return
        body, ctype = (asset, b"text/css") if scope["path"] == "/asset.css" else (page, b"text/html; charset=utf-8")
        if scope["path"] == "/dynamic":  # a per-response CSRF token, as many CMS pages have: no two pages alike
            body = page.replace(b"<main>", b'<main><input type="hidden" name="csrf" value="' + os.urandom(16).hex().encode() + b'">', 1)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", http="httptools", loop="uvloop", access_log=False)


def run_passthrough(port: int, origin: str) -> None:
    """The floor: pure ASGI + one aiohttp session, no header work, no rewriting."""
    import aiohttp
    import uvicorn

    state = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            state["s"] = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await state["s"].close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        async with state["s"].get(origin + scope["path"]) as r:
            body = await r.read()
            headers = [(k.lower(), v) for k, v in r.raw_headers if k.lower() not in (b"transfer-encoding", b"connection")]
            await send({"type": "http.response.start", "status": r.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", http="httptools", loop="uvloop", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 15.0) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# ------------------------------------------------------------------ client

async def _drive(url: str, concurrency: int, seconds: float, warmup: int, cookie: str = "") -> dict:
    import aiohttp

    headers = {"accept": "text/html", "accept-encoding": "identity", "user-agent": "Mozilla/5.0 bench"}
    if cookie:
        headers["cookie"] = cookie
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False) as s:
        for _ in range(warmup):
            async with s.get(url, headers=headers) as r:
                await r.read()
        lat: list[float] = []
        end = time.perf_counter() + seconds

        async def worker():
            while time.perf_counter() < end:
                t = time.perf_counter()
                async with s.get(url, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                lat.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat.sort()
    return {"n": len(lat), "p50": lat[len(lat) // 2] * 1000, "p99": lat[int(len(lat) * 0.99)] * 1000, "rps": len(lat) / wall}


def client_main(url: str, concurrency: int, seconds: float, cookie: str = "") -> None:
    import uvloop

    print(json.dumps(uvloop.run(_drive(url, concurrency, seconds, warmup=200, cookie=cookie))))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, concurrency: int, seconds: float, pid: int, cookie: str = "") -> dict:
    before = cpu_seconds(pid)
    out = subprocess.run([sys.executable, __file__, "client", url, str(concurrency), str(seconds), cookie],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # warm-up requests are included in the CPU time but few (200 of thousands)
    result["cpu_us"] = (cpu_seconds(pid) - before) / (result["n"] + 200) * 1e6
    return result


def returning_visitor(base: str) -> str:
    """A Tailor visitor cookie with a stored profile behind it (one page view through the collector)."""
    import urllib.request

    page = urllib.request.urlopen(urllib.request.Request(base + "/", headers={"accept": "text/html", "user-agent": "Mozilla/5.0 bench"}))
    page.read()
    cookie = page.headers["set-cookie"].split(";")[0]
    event = {"type": "page_view", "id": os.urandom(9).hex(), "ts": time.time() * 1000, "url": "/", "item": "p1",
             "tags": ["hiking", "outdoor"]}
    req = urllib.request.Request(base + "/_tailor/e", data=json.dumps({"events": [event]}).encode(), method="POST",
                                 headers={"content-type": "text/plain", "origin": base, "cookie": cookie,
                                          "user-agent": "Mozilla/5.0 bench"})
    answer = json.loads(urllib.request.urlopen(req).read())
    assert answer.get("accepted") == 1, answer
    return cookie


# -------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--clients", default="httptools,aiohttp,httpx-aiohttp,httpx")
    ap.add_argument("--only", default="", help="run only the cases whose label contains this text")
    args = ap.parse_args()

    procs: list[subprocess.Popen] = []
    try:
        op = free_port()
        origin = f"http://127.0.0.1:{op}"
        procs.append(subprocess.Popen([sys.executable, __file__, "origin", str(op)]))
        wait_up(origin + "/")
        pp = free_port()
        procs.append(subprocess.Popen([sys.executable, __file__, "passthrough", str(pp), origin]))
        targets = [("origin direct", origin, procs[0].pid), ("plain passthrough", f"http://127.0.0.1:{pp}", procs[1].pid)]
        data = tempfile.mkdtemp(prefix="tailor-bench-")
        for kind in args.clients.split(","):
            tp = free_port()
            cfg = Path(data) / f"{kind}.toml"
            cfg.write_text(f'[proxy]\nupstream_client = "{kind}"\ndata_dir = "{data}/{kind}"\n')
            procs.append(subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--origin", origin, "--port", str(tp),
                                           "--config", str(cfg)], cwd=ROOT, stdout=subprocess.DEVNULL))
            targets.append((f"tailor ({kind})", f"http://127.0.0.1:{tp}", procs[-1].pid))
        for _, url, _ in targets:
            wait_up(url + "/asset.css")
        cookies = {url: returning_visitor(url) if name.startswith("tailor") else "tailor_vid=none-here" for name, url, _ in targets}

        cases = [
            ("/", False, "60 KB HTML page, 3 slots + tag, same bytes for everyone (scan reused), new visitor"),
            ("/", True, "60 KB HTML page, same bytes for everyone, returning visitor with a profile"),
            ("/dynamic", False, "60 KB HTML page, bytes differ per response (CSRF token), new visitor"),
            ("/dynamic", True, "60 KB HTML page, bytes differ per response (CSRF token), returning visitor"),
            ("/asset.css", False, "10 KB asset, pass-through"),
        ]
        for path, returning, label in cases:
            if args.only and args.only not in label:
                continue
            for c in (1, args.concurrency):
                print(f"\n== {label}, c={c}, {args.seconds:.0f}s per target")
                print(f"{'target':28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'+p50 vs origin':>15} {'+p99':>8} "
                      f"{'rps vs passthrough':>19} {'cpu us/req':>11} {'cpu vs passthrough':>19}")
                rows = {name: measure(url + path, c, args.seconds, pid, cookies[url] if returning else "") for name, url, pid in targets}
                base = rows["origin direct"]
                plain = rows["plain passthrough"]
                for name, r in rows.items():
                    print(f"{name:28} {r['p50']:8.2f} {r['p99']:8.2f} {r['rps']:8.0f} {r['p50'] - base['p50']:+14.2f}  "
                          f"{r['p99'] - base['p99']:+7.2f} {r['rps'] / plain['rps']:18.2f}x {r['cpu_us']:11.0f} "
                          f"{plain['cpu_us'] / r['cpu_us']:18.2f}x")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(5)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "origin":
        run_origin(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "passthrough":
        run_passthrough(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        client_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else "")
    else:
        main()
