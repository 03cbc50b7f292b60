"""Forwarding through a real Tailor to a real origin, over real sockets."""

from __future__ import annotations

import gzip
import hashlib
import time

import brotli
import httpx
import pytest

from proxy.app import create_app
from proxy.settings import load_settings
from tests.proxy.origin import PAGE, Origin
from tests.servers import free_port, raw_exchange, serve

TAG_MARK = b'<script src="/_tailor/t.js?v='


@pytest.fixture(scope="module")
def origin():
    o = Origin()
    with serve(o.app) as url:
        o.url = url
        yield o


@pytest.fixture(scope="module")
def tailor(origin, tmp_path_factory):
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path_factory.mktemp("data")), read_timeout=1.0)
    with serve(create_app(settings, personalize=False)) as url:
        yield url


@pytest.fixture
def client(tailor):
    with httpx.Client(base_url=tailor, trust_env=False, timeout=10) as c:
        yield c


def last_seen(origin, path):
    return [r for r in origin.seen if r["path"] == path][-1]


def header(record, name):
    return [v for k, v in record["headers"] if k.lower() == name]


def test_html_gets_the_tag_before_head_close_and_nothing_else_changes(client):
    r = client.get("/page", headers={"accept": "text/html", "accept-encoding": "identity"})
    assert r.status_code == 200
    body = r.content
    i = body.index(TAG_MARK)
    tag = body[i : body.index(b"</script>", i) + len(b"</script>")]
    assert body.replace(tag, b"") == PAGE
    assert body[i + len(tag) :].startswith(b"</head>")
    assert int(r.headers["content-length"]) == len(body)
    # a changed page is never shared-cached and never carries the origin's validators
    assert r.headers["cache-control"].startswith("private")
    assert "public" not in r.headers["cache-control"]
    assert r.headers["etag"].startswith('W/"v1-t')  # the origin's validator, marked as the tagged variant
    assert "last-modified" not in r.headers
    assert "Cookie" in r.headers["vary"]
    assert "origin;dur=" in r.headers["server-timing"] and "tailor;dur=" in r.headers["server-timing"]


@pytest.mark.parametrize("path,accept,coding", [
    ("/page.gz", "gzip, br", "gzip"),  # the origin's own coding, when the client takes it
    ("/page.br", "gzip, br", "br"),
    ("/page.deflate", "gzip, br", "br"),  # deflate is re-encoded in the best coding we produce
    ("/page.deflate", "gzip", "gzip"),
    ("/page.br", "gzip", "gzip"),
    ("/page.zst", "zstd, gzip", "zstd"),
    ("/page.zst", "gzip", "gzip"),
])
def test_compressed_html_is_decoded_rewritten_and_reencoded(tailor, path, accept, coding):
    with httpx.Client(trust_env=False) as c:
        with c.stream("GET", tailor + path, headers={"accept": "text/html", "accept-encoding": accept}) as r:
            wire = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == coding
    assert int(r.headers["content-length"]) == len(wire)
    body = {"gzip": gzip.decompress, "br": brotli.decompress, "zstd": _unzstd}[coding](wire)
    i = body.index(TAG_MARK)
    tag = body[i : body.index(b"</script>", i) + len(b"</script>")]
    assert body.replace(tag, b"") == PAGE
    assert "Accept-Encoding" in r.headers["vary"]


def _unzstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def test_reencoded_body_bytes_match_content_length(tailor):
    with httpx.Client(trust_env=False) as c:
        with c.stream("GET", tailor + "/page.gz", headers={"accept": "text/html", "accept-encoding": "gzip"}) as r:
            wire = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) == len(wire)
    assert TAG_MARK in gzip.decompress(wire)


def test_client_without_compression_gets_identity(client):
    r = client.get("/page.br", headers={"accept": "text/html", "accept-encoding": "identity"})
    assert "content-encoding" not in r.headers
    assert TAG_MARK in r.content


def test_origin_is_only_asked_for_codings_tailor_can_decode(client, origin):
    client.get("/page", headers={"accept": "text/html", "accept-encoding": "gzip, compress, exotic"})
    sent = header(last_seen(origin, "/page"), "accept-encoding")[0]
    assert "exotic" not in sent and "compress," not in sent + ","
    assert "gzip" in sent


def test_undecodable_html_passes_through_byte_for_byte(tailor):
    with httpx.Client(trust_env=False) as c:
        with c.stream("GET", tailor + "/page.bad-gzip", headers={"accept": "text/html", "accept-encoding": "gzip"}) as r:
            wire = b"".join(r.iter_raw())
    assert wire == b"\x1f\x8b\x08\x00garbage-not-gzip"


def test_gzip_bomb_is_not_inflated_and_passes_through(tailor):
    with httpx.Client(trust_env=False, timeout=20) as c:
        with c.stream("GET", tailor + "/bomb", headers={"accept": "text/html", "accept-encoding": "gzip"}) as r:
            wire = b"".join(r.iter_raw())
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert len(wire) < 1024 * 1024  # the compressed original, not 64 MB
    assert TAG_MARK not in wire


def test_html_over_the_cap_streams_through_untouched(client):
    r = client.get("/huge-html", headers={"accept": "text/html"})
    assert r.status_code == 200
    assert len(r.content) > 6 * 1024 * 1024
    assert TAG_MARK not in r.content


def test_page_without_head_gets_tag_at_body_start(client):
    r = client.get("/nohead", headers={"accept": "text/html"})
    assert r.content.startswith(b"<html><body>" + TAG_MARK)


def test_error_pages_and_non_get_pass_through_unrewritten(client):
    r = client.get("/error-html", headers={"accept": "text/html"})
    assert r.status_code == 500 and r.content == PAGE
    r = client.head("/asset.css")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(b"body{color:red}"))  # not a page: the origin's own


def test_head_of_a_tagged_page_does_not_claim_the_untagged_length(client, origin):
    plain = {"accept": "text/html", "accept-encoding": "identity"}
    get = client.get("/page", headers=plain)
    assert TAG_MARK in get.content and int(get.headers["content-length"]) == len(get.content) > len(PAGE)
    r = client.head("/page", headers=plain)
    assert r.status_code == 200 and r.content == b""
    assert last_seen(origin, "/page")["method"] == "HEAD"
    # The origin said len(PAGE), which is wrong for the tagged GET: no length (and no
    # validator of the untagged bytes) rather than a wrong one.
    assert "content-length" not in r.headers
    assert "etag" not in r.headers and "last-modified" not in r.headers
    # The rest is what the GET carries, so a cache that refreshes from HEAD learns the truth.
    assert r.headers["cache-control"] == get.headers["cache-control"]
    assert r.headers["vary"] == get.headers["vary"]
    assert r.headers["content-type"] == get.headers["content-type"]


def test_head_over_a_raw_socket_ends_after_the_headers(tailor):
    host = tailor.removeprefix("http://")
    raw = raw_exchange(tailor, f"HEAD /page HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n".encode())
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower()
    assert rest == b""


def test_html_answer_to_a_post_is_tagged_with_the_right_length(client, origin):
    form = {"accept": "text/html", "accept-encoding": "identity", "content-type": "application/x-www-form-urlencoded"}
    r = client.post("/form", content=b"email=", headers=form)
    assert r.status_code == 200
    assert b"email is required" in r.content and TAG_MARK in r.content
    assert int(r.headers["content-length"]) == len(r.content)
    assert "etag" not in r.headers  # a one-off answer: nothing to revalidate into
    assert "private" in r.headers["cache-control"]
    seen = last_seen(origin, "/form")
    assert seen["method"] == "POST"


def test_post_answers_never_come_from_or_go_into_the_scan_cache(origin, tmp_path):
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path))
    app = create_app(settings, personalize=False)
    with serve(app) as url, httpx.Client(base_url=url, trust_env=False) as c:
        form = {"accept": "text/html", "content-type": "application/x-www-form-urlencoded"}
        first = c.post("/form", content=b"email=a%40b.c", headers=form)
        again = c.post("/form", content=b"email=a%40b.c", headers=form)
        assert first.content == again.content and TAG_MARK in again.content
        assert app.metrics.scan_cache_hits == 0


def test_post_answers_are_personalized_like_pages(origin, tmp_path):
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path))
    browser = {"accept": "text/html", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
    with serve(create_app(settings)) as url:
        r = httpx.post(url + "/form", content=b"email=", headers={**browser, "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and TAG_MARK in r.content
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("tailor_vid=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "decide;" in ",".join(r.headers.get_list("server-timing"))  # the decision core ran for it


def test_post_answers_that_are_not_html_pass_through(client):
    r = client.post("/echo", content=b"x=1", headers={"accept": "text/html"})
    assert r.headers["content-type"].startswith("application/json") and TAG_MARK not in r.content


def test_304_and_etag_pass_through_for_assets(client, origin):
    r = client.get("/asset.css")
    assert r.status_code == 200 and r.headers["etag"] == '"css-1"'
    r = client.get("/asset.css", headers={"if-none-match": '"css-1"'})
    assert r.status_code == 304 and r.content == b""


def test_rewritten_page_answers_304_for_its_own_variant_etag(client):
    first = client.get("/page", headers={"accept": "text/html"})
    again = client.get("/page", headers={"accept": "text/html", "if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    other = client.get("/page", headers={"accept": "text/html", "if-none-match": '"v1"'})
    assert other.status_code == 200  # the origin's own validator never yields another variant's 304


def test_large_download_streams_without_buffering(client, origin):
    origin.gate.clear()
    with client.stream("GET", "/gated") as r:
        it = r.iter_raw()
        first = next(it)
        # The origin has not finished (it waits for the gate): Tailor must have streamed.
        assert first.startswith(b"first-chunk")
        origin.gate.set()
        rest = b"".join(it)
    assert (first + rest) == b"first-chunk;rest"


def test_big_download_is_complete_and_exact(client):
    h = hashlib.sha256()
    n = 0
    with client.stream("GET", "/big?mb=20") as r:
        assert r.headers["content-length"] == str(20 * 1024 * 1024)
        for chunk in r.iter_raw():
            h.update(chunk)
            n += len(chunk)
    assert n == 20 * 1024 * 1024
    assert h.hexdigest() == hashlib.sha256(b"\x00" * n).hexdigest()


def test_chunked_upload_streams_to_the_origin(client):
    parts = [bytes([i]) * 100_000 for i in range(30)]

    def gen():
        yield from parts

    r = client.post("/echo", content=gen(), headers={"content-type": "application/octet-stream"})
    seen = r.json()
    body = b"".join(parts)
    assert seen["body_len"] == len(body)
    assert seen["body_sha"] == hashlib.sha256(body).hexdigest()


def test_upload_with_content_length_keeps_it(client, origin):
    r = client.post("/echo", content=b"a=1&b=2", headers={"content-type": "application/x-www-form-urlencoded"})
    seen = r.json()
    assert seen["body_len"] == 7
    assert header(seen, "content-length") == ["7"]
    assert header(seen, "transfer-encoding") == []


def test_hop_by_hop_and_connection_named_headers_are_stripped(client, origin):
    client.get("/echo", headers={"connection": "keep-alive, X-Secret", "x-secret": "s3cr3t", "keep-alive": "timeout=5",
                                 "te": "trailers", "proxy-authorization": "Basic Zm9v", "x-normal": "kept"})
    seen = last_seen(origin, "/echo")
    names = {k.lower() for k, _ in seen["headers"]}
    assert "x-secret" not in names and "te" not in names and "proxy-authorization" not in names
    assert header(seen, "x-normal") == ["kept"]
    r = client.get("/conn-header")
    assert "x-private-hop" not in r.headers and "keep-alive" not in r.headers


def test_forwarded_headers_are_set_and_spoofing_from_untrusted_peer_ignored(origin, tmp_path):
    # Only 10.0.0.0/8 is trusted: the test client (127.0.0.1) is not, so its XFF is dropped.
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path), trusted_proxies=["10.0.0.0/8"])
    with serve(create_app(settings, personalize=False)) as url, httpx.Client(trust_env=False) as c:
        c.get(url + "/echo", headers={"x-forwarded-for": "6.6.6.6", "x-forwarded-host": "evil.example", "forwarded": "for=6.6.6.6"})
    seen = last_seen(origin, "/echo")
    assert header(seen, "x-forwarded-for") == ["127.0.0.1"]
    assert header(seen, "x-forwarded-host")[0].startswith("127.0.0.1:")
    assert header(seen, "forwarded")[0].startswith("for=127.0.0.1;proto=http")
    assert header(seen, "x-forwarded-proto") == ["http"]


def test_trusted_peer_xff_is_appended(client, origin):
    client.get("/echo", headers={"x-forwarded-for": "203.0.113.9"})
    seen = last_seen(origin, "/echo")
    assert header(seen, "x-forwarded-for") == ["203.0.113.9, 127.0.0.1"]


@pytest.mark.parametrize("sent,scheme", [("HTTPS", "https"), ("https, http", "https"), ("wss", "https"),
                                         ("gopher", "http"), ("", "http"), ("javascript:alert(1)", "http")])
def test_trusted_proxys_scheme_is_http_or_https_only(client, origin, sent, scheme):
    client.get("/echo", headers={"x-forwarded-proto": sent})
    seen = last_seen(origin, "/echo")
    assert header(seen, "x-forwarded-proto") == [sent]  # a trusted chain's own field passes on as it is
    assert f";proto={scheme};" in header(seen, "forwarded")[0]  # what Tailor derived from it


def test_host_header_and_overrides_never_pick_the_upstream(client, origin):
    client.get("/echo", headers={"host": "evil.example", "x-original-url": "/admin", "x-forwarded-host": "evil.example"})
    seen = last_seen(origin, "/echo")
    origin_host = origin.url.removeprefix("http://")
    assert header(seen, "host") == [origin_host]
    assert header(seen, "x-original-url") == []
    assert seen["path"] == "/echo"


def test_absolute_form_uri_never_reaches_another_host(tailor, origin):
    evil = Origin()
    with serve(evil.app) as evil_url:
        target = evil_url.removeprefix("http://")
        for req in (
            f"GET {evil_url}/steal HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n".encode(),
            f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n".encode(),
            f"GET //{target}/steal HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n".encode(),
        ):
            answer = raw_exchange(tailor, req)
            assert answer.startswith(b"HTTP/1.1 ")
        assert evil.seen == []
    # whatever reached the real origin asked for a path, not another host
    assert all(r["path"].startswith("/") for r in origin.seen)


def test_location_to_the_origin_is_rewritten_foreign_left_alone(client, tailor):
    r = client.get("/redirect-self")
    assert r.status_code == 302
    assert r.headers["location"] == tailor + "/target?a=1"
    r = client.get("/redirect-away")
    assert r.headers["location"] == "https://example.org/elsewhere"


def test_origin_set_cookies_are_all_preserved(client):
    r = client.get("/cookies", headers={"accept": "text/html"})
    cookies = r.headers.get_list("set-cookie")
    assert any(c.startswith("session=abc123") for c in cookies)
    assert any(c.startswith("csrftoken=tok456") for c in cookies)


def test_origin_cookies_never_leak_to_another_visitor(tailor, origin):
    with httpx.Client(trust_env=False) as a:
        a.get(tailor + "/cookies")
    with httpx.Client(trust_env=False) as b:
        b.get(tailor + "/echo")
    assert header(last_seen(origin, "/echo"), "cookie") == []


def test_origin_refusing_connections_gives_502_fast(tmp_path):
    settings = load_settings(None, origin=f"http://127.0.0.1:{free_port()}", data_dir=str(tmp_path))
    with serve(create_app(settings, personalize=False)) as url, httpx.Client(trust_env=False) as c:
        c.get(url + "/_tailor/health")
        t = time.perf_counter()
        r = c.get(url + "/anything")
        elapsed = time.perf_counter() - t
    assert r.status_code == 502
    assert elapsed < 0.05
    assert b"127.0.0.1" not in r.content and b"Error" not in r.content[:0]
    assert r.headers["content-type"].startswith("text/html")


def test_slow_origin_gives_504(client):
    r = client.get("/slow?s=3")
    assert r.status_code == 504
    assert b"took too long" in r.content


def test_sse_and_ranges_pass_through(client):
    with client.stream("GET", "/sse") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert b"".join(r.iter_raw()) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    r = client.get("/range", headers={"range": "bytes=0-9", "accept": "text/html"})
    assert r.status_code == 206 and r.content == bytes(range(10))


def test_customer_header_is_stripped(client):
    r = client.get("/customer", headers={"accept": "text/html"})
    assert "x-tailor-customer" not in r.headers


def test_legacy_charset_page_keeps_its_bytes(client):
    r = client.get("/latin1", headers={"accept": "text/html"})
    assert b"caf\xe9</title>" in r.content and b"<body>caf\xe9</body>" in r.content
    assert TAG_MARK in r.content


def test_tag_is_served_with_long_caching(client):
    page = client.get("/page", headers={"accept": "text/html"}).content
    i = page.index(b"/_tailor/t.js?v=")
    src = page[i : page.index(b'"', i)].decode()
    r = client.get(src, headers={"accept-encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "immutable" in r.headers["cache-control"]
    assert client.get(src, headers={"if-none-match": r.headers["etag"]}).status_code == 304


def test_reserved_prefix_is_never_forwarded(client, origin):
    before = len(origin.seen)
    assert client.get("/_tailor/nope").status_code == 404
    assert client.get("/_tailor/metrics").status_code == 401
    assert len(origin.seen) == before


def test_one_date_header_the_origins(client):
    r = client.get("/page", headers={"accept": "text/html"})
    assert len(r.headers.get_list("date")) == 1
    r = client.get("/_tailor/health")
    assert len(r.headers.get_list("date")) == 1


def test_tag_carries_the_origins_csp_nonce(client):
    r = client.get("/csp-nonce", headers={"accept": "text/html"})
    i = r.content.index(TAG_MARK)
    tag = r.content[i : r.content.index(b">", i)]
    assert b'nonce="r4nd0mN0nce+/="' in tag
    assert r.headers["content-security-policy"].startswith("default-src 'self'; script-src 'nonce-r4nd0mN0nce+/='")
    assert "etag" not in r.headers  # the nonce makes each response unique
    plain = client.get("/csp-self", headers={"accept": "text/html"}).content
    i = plain.index(TAG_MARK)
    assert b"nonce=" not in plain[i : plain.index(b">", i)]


def test_tag_carries_the_nonce_of_a_policy_declared_in_the_page(client):
    r = client.get("/csp-meta", headers={"accept": "text/html"})
    i = r.content.index(TAG_MARK)
    assert b'nonce="m3taN0nce"' in r.content[i : r.content.index(b">", i)]
    assert r.content.index(b'http-equiv="Content-Security-Policy"') < i  # the tag follows the policy it obeys
    assert "etag" not in r.headers


def test_csp_nonce_parsing():
    from proxy.csp import script_nonce

    assert script_nonce([(b"content-security-policy", b"script-src 'self' 'nonce-abc123'")]) == "abc123"
    assert script_nonce([(b"content-security-policy", b"default-src 'nonce-xyz'")]) == "xyz"
    assert script_nonce([(b"content-security-policy", b"default-src 'nonce-xyz'; script-src 'self'")]) is None
    assert script_nonce([(b"content-security-policy", b"script-src 'nonce-\"><script>'")]) is None  # not a nonce
    assert script_nonce([(b"content-security-policy-report-only", b"script-src 'nonce-abc'")]) is None
    assert script_nonce([]) is None


def test_utf16_page_passes_through_byte_for_byte(client):
    r = client.get("/utf16", headers={"accept": "text/html"})
    assert r.content == "\ufeff<html><head><title>wide</title></head><body>wide</body></html>".encode("utf-16-le")


def test_shift_jis_page_keeps_its_bytes_and_gets_the_tag(client):
    original = "<html><head><meta charset=\"shift_jis\"><title>日本語</title></head><body>表示</body></html>".encode("shift_jis")
    r = client.get("/sjis", headers={"accept": "text/html"})
    i = r.content.index(TAG_MARK)
    tag = r.content[i : r.content.index(b"</script>", i) + len(b"</script>")]
    assert r.content.replace(tag, b"") == original


@pytest.mark.parametrize("accept,coding", [("br, gzip", "br"), ("gzip", "gzip"), ("identity", None)])
def test_tag_is_served_in_the_smallest_coding_the_client_takes(tailor, accept, coding):
    import tag

    with httpx.Client(trust_env=False) as c:
        with c.stream("GET", tailor + f"/_tailor/t.js?v={tag.TAG_HASH}", headers={"accept-encoding": accept}) as r:
            wire = b"".join(r.iter_raw())
    assert r.headers.get("content-encoding") == coding
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: lambda b: b}[coding](wire)
    assert decoded == tag.TAG_JS
    assert int(r.headers["content-length"]) == len(wire)


def test_html_downloads_are_not_rewritten(client):
    r = client.get("/export.html", headers={"accept": "text/html"})
    assert r.content == PAGE


def test_scans_are_reused_only_for_byte_identical_pages(origin, tmp_path):
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path))
    app = create_app(settings, personalize=False)
    with serve(app) as url, httpx.Client(base_url=url, trust_env=False) as c:
        def fetch(v):
            body = c.get(f"/variant-page?v={v}", headers={"accept": "text/html"}).content
            i = body.index(TAG_MARK)
            return body.replace(body[i : body.index(b"</script>", i) + len(b"</script>")], b"")

        direct = {v: httpx.get(origin.url + f"/variant-page?v={v}").content for v in "ab"}
        assert len(direct["a"]) == len(direct["b"]) and direct["a"] != direct["b"]
        assert fetch("a") == direct["a"]
        assert app.metrics.scan_cache_hits == 0
        assert fetch("b") == direct["b"]  # same length, other bytes: its own scan
        assert app.metrics.scan_cache_hits == 0
        assert fetch("a") == direct["a"]
        assert app.metrics.scan_cache_hits == 1


def test_pages_differing_only_in_a_csrf_token_have_their_scan_derived(origin, tmp_path):
    """The same CMS page with a new token each time: scanned once, then rescanned (slots.rescan) from the last copy."""
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path))
    app = create_app(settings, personalize=False)
    with serve(app) as url, httpx.Client(base_url=url, trust_env=False) as c:
        tokens = set()
        for _ in range(3):
            body = c.get("/csrf-page", headers={"accept": "text/html"}).content
            i = body.index(TAG_MARK)
            tag = body[i : body.index(b"</script>", i) + len(b"</script>")]
            assert body[i + len(tag) :].startswith(b"</head>")  # the tag where a fresh scan puts it
            page = body.replace(tag, b"")
            token = page.split(b'name="csrf-token" content="')[1].split(b'"')[0]
            assert page.count(token) == 2 and len(token) == 40
            tokens.add(token)
        assert len(tokens) == 3
        assert app.metrics.scan_cache_hits == 0
        assert app.metrics.scan_rescans == 2


def test_pages_sharing_a_scan_key_are_told_apart_byte_for_byte(origin, tmp_path):
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path))
    app = create_app(settings, personalize=False)
    with serve(app) as url, httpx.Client(base_url=url, trust_env=False) as c:
        def fetch(v):
            return c.get(f"/same-key-page?v={v}", headers={"accept": "text/html"}).content

        a, b = fetch("a"), fetch("b")
        assert b"<p>a</p>" in a and b"<p>b</p>" in b and len(a) == len(b)
        assert app.metrics.scan_cache_hits == 0  # same sampled key, other bytes: a miss, not a wrong hit
        assert fetch("a") == a and fetch("b") == b
        assert app.metrics.scan_cache_hits == 2  # both kept


def test_preserve_host_sends_the_visitors_host_but_never_changes_the_upstream(origin, tmp_path):
    settings = load_settings(None, origin=origin.url, data_dir=str(tmp_path), preserve_host=True)
    with serve(create_app(settings, personalize=False)) as url:
        r = httpx.get(url + "/echo", headers={"host": "shop.example"})
    assert r.status_code == 200  # answered by the configured origin
    assert header(last_seen(origin, "/echo"), "host") == ["shop.example"]


def test_the_upstream_client_adds_no_headers_of_its_own(tailor, origin):
    """Only what the visitor sent crosses: no User-Agent, Accept, Accept-Encoding or Content-Type from the client library."""
    for request in (
        b"GET /echo?bare HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /echo?bare-post HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    ):
        assert raw_exchange(tailor, request).startswith(b"HTTP/1.1 200")
        seen = [r for r in origin.seen if r["path"] == "/echo"][-1]
        for name in ("user-agent", "accept", "accept-encoding", "content-type"):
            assert header(seen, name) == [], (request, name, seen["headers"])
    r = httpx.get(tailor + "/echo?full", headers={"user-agent": "UA/1", "accept": "a/b", "accept-encoding": "gzip", "content-type": "x/y"},
                  trust_env=False)
    seen = r.json()
    assert [header(seen, n) for n in ("user-agent", "accept", "accept-encoding", "content-type")] == [["UA/1"], ["a/b"], ["gzip"], ["x/y"]]
