"""Request smuggling and malformed framing from clients never reach the origin as a second request."""

from __future__ import annotations

import httpx
import pytest

from proxy.app import create_app
from proxy.settings import load_settings
from tests.proxy.origin import Origin
from tests.servers import raw_exchange, serve


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    origin = Origin()
    with serve(origin.app) as origin_url:
        settings = load_settings(None, origin=origin_url, data_dir=str(tmp_path_factory.mktemp("d")))
        with serve(create_app(settings, personalize=False)) as url:
            yield origin, url


SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
CASES = {
    "CL.TE": f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}",
    "TE.CL": f"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n{SMUGGLED}\r\n0\r\n\r\n",
    "duplicate CL": f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd{SMUGGLED}",
    "obs-fold": "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\nConnection: close\r\n\r\n",
    "bad chunk size": f"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n{SMUGGLED}",
    "TE: chunked, gzip last not chunked": f"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{SMUGGLED}",
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_framing_is_refused_and_nothing_is_smuggled(setup, name):
    origin, url = setup
    answer = raw_exchange(url, CASES[name].encode())
    assert not any(r["path"] == "/smuggled" for r in origin.seen)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    # Tailor is still healthy
    assert httpx.get(url + "/_tailor/health").status_code == 200


def test_huge_headers_do_not_take_tailor_down(setup):
    origin, url = setup
    answer = raw_exchange(url, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (256 * 1024) + b"\r\nConnection: close\r\n\r\n")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
    many = "".join(f"X-H{i}: v\r\n" for i in range(1000))
    answer = raw_exchange(url, f"GET /echo HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 ")
    assert httpx.get(url + "/_tailor/health").status_code == 200
