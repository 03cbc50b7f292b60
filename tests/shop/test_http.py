"""Login and the customer header, caching and compression headers, streaming, the CLI."""

from __future__ import annotations

import csv
import gzip
import io
import subprocess
import sys

import httpx

from examples.shop.app import create_app
from examples.shop.security import customer_id_for

from .conftest import form_token, serve


def login(client: httpx.Client, email: str, next_path: str = "/") -> httpx.Response:
    token = form_token(client, "/login")
    return client.post("/login", data={"email": email, "password": "x", "csrf": token, "next": next_path})


def test_login_names_the_customer_on_later_pages(client: httpx.Client) -> None:
    assert "x-tailor-customer" not in client.get("/").headers
    response = login(client, "Hiker@Example.org", next_path="/c/hiking")
    assert response.status_code == 303 and response.headers["location"] == "/c/hiking"
    session_cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("shop_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    expected = customer_id_for("hiker@example.org")
    assert response.headers["x-tailor-customer"] == expected
    page = client.get("/c/hiking")
    assert page.headers["x-tailor-customer"] == expected
    assert "Signed in as" in page.text

    logout = client.post("/logout", data={"csrf": form_token(client)})
    assert logout.status_code == 303 and "x-tailor-customer" not in logout.headers
    assert "x-tailor-customer" not in client.get("/").headers


def test_forged_session_and_bad_login_input_name_nobody(client: httpx.Client, shop_url: str) -> None:
    with httpx.Client(base_url=shop_url, cookies={"shop_session": "cust-000000000000.deadbeef"}) as forged:
        assert "x-tailor-customer" not in forged.get("/").headers
    assert login(client, "no-at-sign").status_code == 400
    assert client.post("/login", data={"email": "a@b.c"}).status_code == 403
    assert login(client, "a@b.c", next_path="//evil.example/").headers["location"] == "/"


def test_customer_header_can_be_turned_off() -> None:
    with serve(create_app(customer_header=None)) as url, httpx.Client(base_url=url) as c:
        assert login(c, "a@b.c").status_code == 303
        assert "x-tailor-customer" not in c.get("/").headers
        assert "Signed in as" in c.get("/").text


def test_product_page_etag_answers_304(client: httpx.Client) -> None:
    first = client.get("/p/rope-60m")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    again = client.get("/p/rope-60m", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get("/p/rope-60m", headers={"If-None-Match": f'W/"other", {etag}'}).status_code == 304
    assert client.get("/p/rope-60m", headers={"If-None-Match": '"stale"'}).status_code == 200
    assert client.get("/p/harness").headers["etag"] != etag


def test_html_is_gzipped_only_when_asked(client: httpx.Client) -> None:
    with client.stream("GET", "/c/hiking", headers={"Accept-Encoding": "gzip"}) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in zipped.headers["vary"].lower()
        wire = b"".join(zipped.iter_raw())
    html = gzip.decompress(wire)
    assert html.startswith(b"<!doctype html>")
    assert len(wire) < len(html) / 2

    plain = client.get("/c/hiking", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.text.startswith("<!doctype html>")


def test_catalog_download_streams_in_chunks(client: httpx.Client) -> None:
    chunks = 0
    data = bytearray()
    with client.stream("GET", "/download/catalog.csv") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in response.headers["content-disposition"]
        assert "content-length" not in response.headers
        for chunk in response.iter_raw():
            chunks += 1
            data += chunk
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0][0] == "sku"
    assert len(rows) == 20_001
    assert len(data) > 1_000_000
    assert chunks > 1


def test_cli_prints_the_bound_url_first() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.shop", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("shop listening on http://127.0.0.1:")
        url = first.removeprefix("shop listening on ")
        assert int(url.rsplit(":", 1)[1]) > 0
        response = httpx.get(url + "/p/tent-2p", timeout=10)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)
