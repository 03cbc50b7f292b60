"""End-to-end fixtures: the demo shop as origin, a real Tailor in front, real Chromium.

Playwright cannot download browsers here; it drives Debian's /usr/bin/chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.shop.app import create_app as create_shop
from proxy.app import create_app
from proxy.settings import load_settings
from tests.servers import serve

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def shop_url():
    with serve(create_shop()) as url:
        yield url


@pytest.fixture(scope="session")
def tailor_url(shop_url, tmp_path_factory):
    config = EXAMPLES / "tailor.toml"
    settings = load_settings(config if config.exists() else None, origin=shop_url,
                             data_dir=str(tmp_path_factory.mktemp("tailor-data")))
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def context(browser):
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    p = context.new_page()
    p.console_errors = []  # type: ignore[attr-defined]
    p.on("console", lambda m: m.type == "error" and p.console_errors.append(m.text))  # type: ignore[attr-defined]
    p.on("pageerror", lambda e: p.console_errors.append(str(e)))  # type: ignore[attr-defined]
    yield p
