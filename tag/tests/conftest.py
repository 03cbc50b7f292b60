"""Fixtures for the tag's browser tests: one real Chromium for the package,
a fresh context (empty storage) per test, and the fixture site."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tag.tests.pages import PAGES
from tag.tests.site import Site

# Headless Chromium never hides a tab, so visibility is driven from the test:
# document.visibilityState reads window.__vis, and __setVisibility(v) fires the
# real visibilitychange event the tag listens to.
VISIBILITY_SHIM = """
window.__vis = "visible";
Object.defineProperty(Document.prototype, "visibilityState", {configurable: true, get() { return window.__vis; }});
Object.defineProperty(Document.prototype, "hidden", {configurable: true, get() { return window.__vis === "hidden"; }});
window.__setVisibility = (v) => { window.__vis = v; document.dispatchEvent(new Event("visibilitychange")); };
"""


# `browser` comes from tests/browser_plugin.py: one Chromium for every suite.


@pytest.fixture
def site() -> Iterator[Site]:
    # One server (one port, one origin) per test: beacons a closing context
    # sends late cannot land in the next test's record, nor storage leak.
    site = Site(PAGES).start()
    yield site
    site.stop()


class Tab:
    """A page in a fresh context, with what went wrong in it."""

    def __init__(self, page: object) -> None:
        self.page = page
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.expect_console_errors = False  # set by tests that make requests fail on purpose


@pytest.fixture
def tab(browser: object, site: Site) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1000, "height": 700})  # type: ignore[attr-defined]
    context.add_init_script(VISIBILITY_SHIM)
    page = context.new_page()
    tab = Tab(page)
    page.on("console", lambda m: m.type == "error" and tab.console_errors.append(m.text))
    page.on("pageerror", lambda e: tab.page_errors.append(str(e)))
    yield tab
    context.close()
    assert tab.page_errors == [], tab.page_errors
    if not tab.expect_console_errors:
        assert tab.console_errors == [], tab.console_errors
