"""A real shared cache (nginx proxy_cache) in front of Tailor never hands one visitor's page to another."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from proxy.app import create_app
from proxy.settings import load_settings
from tests.proxy.origin import Origin
from tests.servers import BROWSER, free_port, serve

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = """
daemon off;
master_process off;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  proxy_cache_path {dir}/cache keys_zone=pages:1m;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass {upstream};
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_cache pages;
      proxy_cache_valid 200 10m;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
}}
"""


def order(html: str) -> list[str]:
    return re.findall(r'<article data-item="([^"]+)"', html)


@pytest.fixture
def nginx_in_front(tmp_path):
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: tests/run.sh installs it")
    origin = Origin()
    with serve(origin.app) as origin_url:
        settings = load_settings(None, origin=origin_url, data_dir=str(tmp_path / "data"))
        with serve(create_app(settings)) as tailor_url:
            port = free_port()
            conf = tmp_path / "nginx.conf"
            conf.write_text(CONF.format(dir=tmp_path, port=port, upstream=tailor_url))
            proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
            base = f"http://127.0.0.1:{port}"
            try:
                for _ in range(100):
                    try:
                        httpx.get(base + "/asset.css", timeout=1)
                        break
                    except httpx.HTTPError:
                        time.sleep(0.05)
                yield base, tailor_url
            finally:
                proc.terminate()
                proc.wait(10)


def test_personalized_pages_are_never_served_from_a_shared_cache(nginx_in_front):
    base, tailor_url = nginx_in_front
    # the cache works for what may be shared
    httpx.get(base + "/asset.css")
    assert httpx.get(base + "/asset.css").headers["x-cache-status"] == "HIT"

    with httpx.Client(base_url=base, headers=BROWSER, trust_env=False) as a:
        default = order(a.get("/cacheable-shop").text)
        events = [{"type": "page_view", "id": secrets.token_urlsafe(12), "ts": time.time() * 1000, "url": "/p/rope",
                   "item": "rope", "tags": ["climbing"]} for _ in range(3)]
        r = a.post("/_tailor/e", content=json.dumps({"events": events}), headers={"content-type": "text/plain", "origin": base})
        assert r.status_code == 200, r.text
        mine = a.get("/cacheable-shop")
        assert order(mine.text)[0] == "rope"
        assert mine.headers["x-cache-status"] != "HIT"
        assert mine.headers["cache-control"].startswith("private")
    with httpx.Client(base_url=base, headers=BROWSER, trust_env=False) as b:
        theirs = b.get("/cacheable-shop")
        assert order(theirs.text) == default
        assert theirs.headers["x-cache-status"] != "HIT"
