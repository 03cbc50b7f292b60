"""POST /_tailor/e over a real socket: good beacons, bad input, floods, cross-site, bots, GPC."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from proxy.identity import COOKIE_NAME
from tests.collector.conftest import BROWSER, Served, serve_in_thread
from tests.collector.helpers import beacon, event
from tests.collector.helpers import stored_ids as journal_ids


def stored_ids(served: Served) -> list[str]:
    return journal_ids(served.app.settings.proxy.data_dir)


def profile(client: httpx.Client) -> dict:
    response = client.get("/_test/profile")
    assert response.status_code == 200, response.text
    return response.json()["profile"]


def test_good_beacon_is_stored_and_sets_a_signed_cookie(served: Served) -> None:
    with served.client() as client:
        first = event("page_view", item="boot", tags=["hiking"])
        response = client.post("/_tailor/e", content=beacon(first, event("click", item="boot", tags=["hiking"])))
        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": 2, "duplicates": 0, "ignored": 0, "rejected": []}
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain http here
        # The same visitor keeps their id: no new cookie, profile grows.
        response = client.post("/_tailor/e", content=beacon(event("page_view", item="tent", tags=["camping"])))
        assert response.status_code == 200 and "set-cookie" not in response.headers
        p = profile(client)
        assert p["counters"]["page_views"] == 2 and p["counters"]["clicks"] == 1
        assert set(p["affinities"]) == {"hiking", "camping"}
    assert len(stored_ids(served)) == 3


def test_application_json_is_accepted_other_types_are_not(served: Served) -> None:
    with served.client() as client:
        ok = client.post("/_tailor/e", content=beacon(event("page_view")), headers={"content-type": "application/json"})
        assert ok.status_code == 200
        bad = client.post("/_tailor/e", content=beacon(event("page_view")), headers={"content-type": "application/x-www-form-urlencoded"})
        assert bad.status_code == 415 and "text/plain" in bad.json()["error"]
    assert len(stored_ids(served)) == 1


def test_replayed_events_count_as_duplicates_and_are_stored_once(served: Served) -> None:
    events = [event("page_view", item=f"i{n}") for n in range(5)]
    with served.client() as client:
        assert client.post("/_tailor/e", content=beacon(*events)).json()["accepted"] == 5
        again = client.post("/_tailor/e", content=beacon(*events, event("click", item="x")))
        assert again.json() == {"accepted": 1, "duplicates": 5, "ignored": 0, "rejected": []}
        assert profile(client)["counters"]["page_views"] == 5
    ids = stored_ids(served)
    assert len(ids) == 6 and len(set(ids)) == 6


def test_the_same_event_twice_in_one_beacon_is_stored_once(served: Served) -> None:
    twice = event("page_view", item="a")
    with served.client() as client:
        response = client.post("/_tailor/e", content=beacon(twice, event("click", item="b"), twice))
        assert response.json() == {"accepted": 2, "duplicates": 0, "ignored": 0, "rejected": []}
        assert profile(client)["counters"]["page_views"] == 1
    assert stored_ids(served).count(twice["id"]) == 1


def test_bad_events_are_reported_and_good_neighbours_kept(served: Served) -> None:
    good = event("page_view", item="a")
    body = beacon(good, {"type": "click", "id": "abcdefgh9", "ts": 1}, {"type": "teleport", "id": "abcdefgh8", "ts": 1}, event("search", q=5))
    with served.client() as client:
        response = client.post("/_tailor/e", content=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    rejected = {r["index"]: r["error"] for r in answer["rejected"]}
    assert set(rejected) == {1, 2, 3}
    assert "item" in rejected[1] and "teleport" in rejected[2] and "$.events[3].q" in rejected[3]
    assert stored_ids(served) == [good["id"]]


def test_bad_envelopes_get_400_naming_the_problem(served: Served) -> None:
    cases = {
        b"": "empty",
        b'{"events": [': "not valid JSON",
        b"hello": "not valid JSON",
        b'{"events": "x"}': "$.events",
        b'{"events": [], "extra": 1}': "extra",
        b'{"events": [{"type":"page_view","id":"abcdefgh","ts":NaN}]}': "not valid JSON",
        b'{"events": ["\xff\xfe"]}': "UTF-8",
        b'{"events": [' + b"[" * 5000 + b"]" * 5000 + b"]}": "nested",
        b'{"events": [], "events": []}': "duplicate key",
        b'{"events": [{"type": "page_view", "id": "abcdefgh", "ts": 1, "ts": 2}]}': "duplicate key",
        b"[1, 2]": "Expected `object`",
    }
    with served.client() as client:
        for body, words in cases.items():
            response = client.post("/_tailor/e", content=body)
            assert response.status_code == 400, (body[:40], response.status_code, response.text)
            assert words in response.json()["error"], (body[:40], response.text)
    assert stored_ids(served) == []


def test_huge_batches_are_refused_cleanly(served: Served) -> None:
    with served.client() as client:
        small = [{"type": "search", "id": f"e{n:07d}", "ts": 1, "q": "x"} for n in range(201)]
        response = client.post("/_tailor/e", content=beacon(*small))
        assert response.status_code == 400 and "$.events" in response.json()["error"]
        ten_thousand = beacon(*[{"type": "search", "id": f"e{n:07d}", "ts": 1, "q": "x"} for n in range(10_000)])
        response = client.post("/_tailor/e", content=ten_thousand)
        assert response.status_code == 413
    assert stored_ids(served) == []


def test_body_over_the_cap_is_413_without_content_length(served: Served) -> None:
    limit = served.app.settings.collector.max_body_bytes
    body = b'{"events": [' + b" " * (limit - 13) + b"]}"
    assert len(body) == limit + 1

    def chunks():  # streamed: no Content-Length, the server must count
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    with served.client() as client:
        assert client.post("/_tailor/e", content=body).status_code == 413
        assert client.post("/_tailor/e", content=chunks()).status_code == 413
        exact = b'{"events": [' + b" " * (limit - 14) + b"]}"
        assert client.post("/_tailor/e", content=exact).status_code == 200


def test_forged_or_malformed_cookies_get_a_fresh_visitor(served: Served) -> None:
    with served.client() as client:
        response = client.post("/_tailor/e", content=beacon(event("page_view", item="a")))
        real = response.cookies[COOKIE_NAME]
    vid, sig = real.split(".")
    with httpx.Client(base_url=served.url, headers={"user-agent": BROWSER, "content-type": "text/plain", "cookie": f"{COOKIE_NAME}={real}"}) as client:
        response = client.post("/_tailor/e", content=beacon(event("page_view", item="b")))  # the real one is verified (and remembered)
        assert response.status_code == 200 and COOKIE_NAME not in response.cookies
    forged = [f"{vid}.{'A' * len(sig)}", f"{'B' * len(vid)}.{sig}", "garbage", real + "x", "", f"{vid}"]
    for value in forged:
        with httpx.Client(base_url=served.url, headers={"user-agent": BROWSER, "content-type": "text/plain", "cookie": f"{COOKIE_NAME}={value}"}) as client:
            response = client.post("/_tailor/e", content=beacon(event("page_view", item="forged")))
            assert response.status_code == 200 and response.json()["accepted"] == 1
            fresh = response.cookies[COOKIE_NAME]
            assert fresh.split(".")[0] != vid
    with httpx.Client(base_url=served.url, headers={"user-agent": BROWSER, "cookie": f"{COOKIE_NAME}={real}"}) as client:
        p = profile(client)
        assert p["counters"]["page_views"] == 2 and "forged" not in p["item_affinities"]


def test_method_other_than_post_is_405(served: Served) -> None:
    with served.client() as client:
        response = client.get("/_tailor/e")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_cross_site_beacons_are_refused(served: Served) -> None:
    with served.client() as client:
        foreign = client.post("/_tailor/e", content=beacon(event("page_view")), headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403
        fetch_meta = client.post("/_tailor/e", content=beacon(event("page_view")), headers={"sec-fetch-site": "cross-site"})
        assert fetch_meta.status_code == 403
        null_origin = client.post("/_tailor/e", content=beacon(event("page_view")), headers={"origin": "null"})
        assert null_origin.status_code == 403
        own = client.post("/_tailor/e", content=beacon(event("page_view")), headers={"origin": served.url, "sec-fetch-site": "same-origin"})
        assert own.status_code == 200
    assert len(stored_ids(served)) == 1


def test_bots_are_answered_204_and_ignored(served: Served) -> None:
    for agent in ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "AhrefsBot/7.0", ""]:
        with httpx.Client(base_url=served.url, headers={"user-agent": agent, "content-type": "text/plain"}) as client:
            response = client.post("/_tailor/e", content=beacon(event("page_view")))
            assert response.status_code == 204 and "set-cookie" not in response.headers
    assert stored_ids(served) == []


def test_gpc_stores_nothing_but_consent(served: Served) -> None:
    with served.client() as client:
        client.post("/_tailor/e", content=beacon(event("page_view", item="a", tags=["t"])))
        response = client.post(
            "/_tailor/e", content=beacon(event("page_view", item="b", tags=["u"]), event("consent", analytics=False)), headers={"sec-gpc": "1"}
        )
        assert response.json() == {"accepted": 1, "duplicates": 0, "ignored": 1, "rejected": []}
        p = profile(client)
    assert p["gpc"] is True and p["consent"] == {"analytics": False}
    assert "affinities" not in p and "item_affinities" not in p and "recent" not in p and p.get("counters", {}) == {}


def test_flood_from_one_visitor_gets_429_with_retry_after(tmp_path: Path) -> None:
    with serve_in_thread(str(tmp_path / "data"), rate_per_second=2.0, burst=5) as served, served.client() as client:
        statuses = [client.post("/_tailor/e", content=beacon(event("page_view"))).status_code for _ in range(7)]
        # first request creates the visitor (address bucket only), then 5 from the visitor's bucket
        assert statuses[:6] == [200] * 6 and statuses[6] == 429
        refused = client.post("/_tailor/e", content=beacon(event("page_view")))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        served.clock.tick(1.0)  # two tokens back
        assert client.post("/_tailor/e", content=beacon(event("page_view"))).status_code == 200
        assert len(stored_ids(served)) == 7


def test_flood_from_one_address_gets_429(tmp_path: Path) -> None:
    with serve_in_thread(str(tmp_path / "data"), rate_per_second=1.0, burst=2) as served:
        statuses = []
        for _ in range(25):  # a new visitor each time (no cookie jar): only the address bucket (10x) applies
            with httpx.Client(base_url=served.url, headers={"user-agent": BROWSER, "content-type": "text/plain"}) as client:
                statuses.append(client.post("/_tailor/e", content=beacon(event("page_view"))).status_code)
        assert statuses.count(200) == 20 and statuses[20:] == [429] * 5


def test_store_failure_is_503_never_2xx(served: Served) -> None:
    import asyncio

    store = served.app.store
    assert store is not None
    with served.client() as client:
        assert client.post("/_tailor/e", content=beacon(event("page_view"))).status_code == 200
        asyncio.run(store.close())  # journal gone: nothing can be made durable
        response = client.post("/_tailor/e", content=beacon(event("page_view")))
    assert response.status_code == 503 and response.headers["retry-after"] and "not stored" in response.json()["error"]
    assert msgspec.json.decode(response.content)["error"]
