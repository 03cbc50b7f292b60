"""Decision time per page, next to a trivial local origin's response time.

    python bench/bench_decisions.py [--runs 5000] [--config examples/tailor.toml]

One page with three slots (carousel of 8 items, recommendations limit 8,
search with 20 results), a 10,000-item catalog (300 tags, 40 categories,
popularity and co-views), and a heavy profile (200 tag affinities, a live
session, 100 recent events, 20 purchases). Prints median and p99 of
`DecisionEngine.decide()` in ms, both with zero configuration and with the
demo config (personas, segments, triggers, rules, a bandit), and the median
of a GET to a trivial origin on 127.0.0.1 for scale. Goal: median <= 0.3 ms.
The catalog is moved out of the garbage collector's generations (gc.freeze())
as a server should after loading it; without that, p99 includes full
collections over the 10,000 items.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import random
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proxy.catalog import Catalog  # noqa: E402
from proxy.decisions.engine import DecisionEngine  # noqa: E402
from proxy.decisions.experiments import ArmStats  # noqa: E402
from proxy.profile_model import CatalogStats, Context, Profile, RecentEvent, Score, Session  # noqa: E402
from proxy.settings import Settings, load_settings  # noqa: E402
from slots.model import Item, ScannedPage, Slot  # noqa: E402

GOAL_MS = 0.3
TYPICAL_ORIGIN_MS = 50.0
NOW = 1_700_000_000.0


def build(seed: int = 1) -> tuple[ScannedPage, Profile, Context, Catalog]:
    rng = random.Random(seed)
    tags = [f"tag{i}" for i in range(300)] + ["camping", "hiking", "running", "sale", "kids", "winter"]
    items = [
        Item(
            id=f"item{i}",
            tags=tuple(rng.sample(tags, 4)),
            title=f"Item {i}",
            url=f"/p/item{i}",
            price=f"{i % 200}.00",
            category=f"cat{i % 40}",
        )
        for i in range(10_000)
    ]
    popularity = {it.id: rng.random() * 100 for it in items}
    coviews = {f"item{i}": {f"item{rng.randrange(10_000)}": rng.random() * 10 for _ in range(30)} for i in range(0, 10_000, 3)}
    catalog = Catalog(items, stats=CatalogStats(popularity=popularity, coviews=coviews, repurchase_days={"item5": 30.0}))
    affinities = {t: Score(rng.random() * 10, NOW - rng.random() * 30 * 86400) for t in rng.sample(tags, 200)}
    session = Session(
        number=4,
        started=NOW - 600,
        last_seen=NOW - 20,
        page_views=7,
        affinities={t: rng.random() * 3 for t in rng.sample(tags, 12)},
        viewed={f"item{rng.randrange(10_000)}": 1 for _ in range(6)},
        cart={"item7": 1},
    )
    recent = [
        RecentEvent(type=rng.choice(["page_view", "click", "add_to_cart", "search"]), ts=NOW - 3000 + i * 30, item=f"item{rng.randrange(10_000)}", session=4)
        for i in range(100)
    ]
    profile = Profile(
        vid="bench-visitor",
        created=NOW - 90 * 86400,
        affinities=affinities,
        session=session,
        recent=recent,
        purchases={f"item{rng.randrange(10_000)}": [NOW - rng.random() * 60 * 86400] for _ in range(20)},
        exposures={"promo:urgent": [NOW - 3600]},
    )
    carousel = Slot(name="home-hero", type="carousel", start=0, end=1, items=tuple(items[i * 17] for i in range(8)))
    recs = Slot(name="home-recs", type="recommendations", start=0, end=1, limit=8)
    search = Slot(name="search-results", type="search", start=0, end=1, items=tuple(items[i * 31] for i in range(20)))
    page = ScannedPage(slots=(carousel, recs, search), page_item=items[42])
    context = Context(now=NOW, path="/search", device="mobile", returning=True, local_hour=20, weekday=4, search_query="tent")
    return page, profile, context, catalog


def measure(engine: DecisionEngine, runs: int, arm_stats: dict | None = None) -> tuple[float, float, int]:
    page, profile, context, catalog = build()
    gc.collect()
    gc.freeze()  # long-lived catalog out of the collector's way, as a server does after start-up
    rng = random.Random(5)
    for _ in range(200):  # warm caches (the catalog's per-tag lists live across requests)
        engine.decide(page, profile, context, catalog, rng=rng, arm_stats=arm_stats)
    times = []
    clock = time.perf_counter
    for _ in range(runs):
        t0 = clock()
        out = engine.decide(page, profile, context, catalog, rng=rng, arm_stats=arm_stats)
        times.append((clock() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1], len(out.decisions)


class _Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = b"<!doctype html><html><body>" + b"<p>hello</p>" * 500 + b"</body></html>"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def origin_ms(runs: int = 300) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            conn.request("GET", "/")
            conn.getresponse().read()
            times.append((time.perf_counter() - t0) * 1000)
        conn.close()
        return statistics.median(times)
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--config", default=str(ROOT / "examples" / "tailor.toml"))
    args = parser.parse_args()
    origin = origin_ms()
    rows = [("zero config", DecisionEngine(Settings()), None)]
    demo = load_settings(args.config)
    stats = {"promo-tone": {"calm": ArmStats(500, 40), "urgent": ArmStats(500, 55)}}
    rows.append(("demo config", DecisionEngine(demo), stats))
    print(f"decide(): 3 slots (carousel 8, recommendations 8 of 10,000 items, search 20), profile with 200 affinities, {args.runs} runs")
    print(f"{'':<14} {'median ms':>10} {'p99 ms':>8} {'decisions':>10} {'vs goal':>8} {'vs trivial origin':>18} {'vs CMS page':>12}")
    for name, engine, arm in rows:
        med, p99, n = measure(engine, args.runs, arm)
        print(
            f"{name:<14} {med:>10.3f} {p99:>8.3f} {n:>10} {med / GOAL_MS:>7.2f}x {med / origin:>17.0%} {med / TYPICAL_ORIGIN_MS:>11.2%}"
        )
    print(f"{'goal':<14} {GOAL_MS:>10.3f}")
    print(f"{'trivial origin':<14} {origin:>10.3f}   (GET of a 6 KB static page from http.server on 127.0.0.1, keep-alive)")
    print(f"{'CMS page':<14} {TYPICAL_ORIGIN_MS:>10.3f}   (a typical server-rendered CMS page; not measured here)")


if __name__ == "__main__":
    main()
