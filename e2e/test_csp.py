"""The injected tag runs under a site's strict, nonce-based Content-Security-Policy."""

from __future__ import annotations

import pytest

from proxy.app import create_app
from proxy.settings import load_settings
from tests.proxy.origin import Origin
from tests.servers import serve


@pytest.mark.parametrize("path", ["/csp-nonce", "/csp-meta"], ids=["header", "meta"])
def test_tag_runs_under_a_strict_dynamic_nonce_policy(browser, tmp_path, path):
    origin = Origin()
    with serve(origin.app) as origin_url:
        settings = load_settings(None, origin=origin_url, data_dir=str(tmp_path))
        with serve(create_app(settings)) as url:
            ctx = browser.new_context()
            try:
                page = ctx.new_page()
                violations: list[str] = []
                page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
                page.goto(url + path)
                page.wait_for_function("() => window.tailor && typeof window.tailor.track === 'function'", timeout=5000)
                assert violations == []
            finally:
                ctx.close()
