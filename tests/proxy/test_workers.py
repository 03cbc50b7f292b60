"""`tailor serve --workers 2` as an operator runs it: one port, two processes, one set of profiles."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import httpx

from examples.shop.app import create_app as create_shop
from tests.proxy.test_personalization import hero_ids
from tests.servers import BROWSER, free_port, serve


def test_two_workers_share_visitors_and_read_their_writes(tmp_path):
    with serve(create_shop()) as shop:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--origin", shop, "--port", str(port), "--workers", "2",
             "--data-dir", str(tmp_path / "data")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/_tailor/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                raise AssertionError("tailor did not start: " + proc.stdout.read1().decode(errors="replace"))
            pids = set()
            with httpx.Client(base_url=base, headers=BROWSER, trust_env=False) as c:
                before = hero_ids(c.get("/").text)
                events = [{"type": "page_view", "id": secrets.token_urlsafe(12), "ts": time.time() * 1000,
                           "url": f"/p/{i}", "item": i, "tags": ["climbing"]} for i in ("harness", "chalk-bag", "rope-60m")]
                # New connections spread over both workers; every page after the 2xx must see the events.
                assert c.post("/_tailor/e", content=json.dumps({"events": events}),
                              headers={"content-type": "text/plain", "origin": base}).status_code == 200
                for _ in range(12):
                    with httpx.Client(base_url=base, headers=BROWSER, cookies=c.cookies, trust_env=False) as fresh:
                        r = fresh.get("/")
                        assert hero_ids(r.text)[0] == "climbing-shoes", hero_ids(r.text)
                        assert hero_ids(r.text) != before
                        metrics = fresh.get("/_tailor/metrics", headers={"authorization": "Bearer " + (tmp_path / "data" / "secret").read_text().strip()})
                        if metrics.status_code == 200:
                            pids.update(line.split('pid="')[1].split('"')[0] for line in metrics.text.splitlines() if 'pid="' in line)
            assert len(pids) == 2, f"expected both workers to answer, saw {pids}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
