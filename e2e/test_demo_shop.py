"""The demo shop through Tailor in real Chromium: it renders, the tag loads, nothing breaks."""

from __future__ import annotations


def test_shop_renders_through_tailor_with_the_tag_and_no_console_errors(page, tailor_url):
    tag_responses = []
    page.on("response", lambda r: "/_tailor/t.js" in r.url and tag_responses.append(r))
    page.goto(tailor_url + "/")
    page.wait_for_load_state("load")
    assert page.locator("[data-slot=home-hero] [data-item]").count() >= 3
    assert page.locator("script[src^='/_tailor/t.js']").count() == 1
    assert tag_responses and tag_responses[0].status == 200
    page.wait_for_function("() => window.tailor && typeof window.tailor.track === 'function'")
    # a category page, a product page and the search page render too
    page.goto(tailor_url + "/c/camping")
    assert page.locator("[data-item]").count() > 3
    page.locator("a[href^='/p/']").first.click()
    page.wait_for_load_state("load")
    assert page.locator("[data-page-item]").count() == 1
    page.goto(tailor_url + "/search?q=jacket")
    assert page.locator("[data-slot=search-results] li").count() >= 8
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_visitor_cookie_is_first_party_httponly_and_lax(page, context, tailor_url):
    page.goto(tailor_url + "/")
    cookies = {c["name"]: c for c in context.cookies()}
    vid = cookies["tailor_vid"]
    assert vid["httpOnly"] is True
    assert vid["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("tailor_vid") == -1
