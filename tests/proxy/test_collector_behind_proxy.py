"""Beacons that come through a trusted proxy are attributed to the real visitor address and public host."""

from __future__ import annotations

import json
import secrets
import time

import httpx

from proxy.app import create_app
from proxy.settings import load_settings, settings_from_dict
from tests.proxy.origin import Origin
from tests.servers import serve

UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0", "content-type": "text/plain"}


def beacon() -> str:
    return json.dumps({"events": [{"type": "search", "id": secrets.token_urlsafe(12), "ts": time.time() * 1000, "q": "tent"}]})


def test_rate_limits_are_per_real_client_and_public_origin_is_accepted(tmp_path):
    origin = Origin()
    with serve(origin.app) as origin_url:
        settings = settings_from_dict({
            "proxy": {"origin": origin_url, "data_dir": str(tmp_path)},
            "collector": {"rate_per_second": 0.01, "burst": 1},  # an address may send 10 beacons, then waits
        })
        with serve(create_app(settings)) as url:
            def post(client_ip: str) -> int:
                headers = {**UA, "x-forwarded-for": client_ip, "x-forwarded-host": "shop.example", "x-forwarded-proto": "https",
                           "origin": "https://shop.example"}
                return httpx.post(url + "/_tailor/e", content=beacon(), headers=headers).status_code

            statuses = [post("203.0.113.7") for _ in range(12)]
            assert statuses[0] == 200  # the public origin passes the same-origin check
            assert statuses[-1] == 429
            assert post("198.51.100.20") == 200  # another visitor behind the same proxy is not punished
            r = httpx.post(url + "/_tailor/e", content=beacon(),
                           headers={**UA, "x-forwarded-host": "shop.example", "origin": "https://evil.example"})
            assert r.status_code == 403


def test_untrusted_peer_cannot_claim_a_public_host(tmp_path):
    origin = Origin()
    with serve(origin.app) as origin_url:
        settings = load_settings(None, origin=origin_url, data_dir=str(tmp_path), trusted_proxies=["10.0.0.0/8"])
        with serve(create_app(settings)) as url:
            r = httpx.post(url + "/_tailor/e", content=beacon(),
                           headers={**UA, "x-forwarded-host": "shop.example", "origin": "https://shop.example"})
            assert r.status_code == 403
