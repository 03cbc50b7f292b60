"""A real shopping trip through Tailor: CSRF-protected forms, cookies and redirects work; the purchase is recorded."""

from __future__ import annotations

import json


def acknowledged(page):
    """Wait for the tag's next beacon to get its 2xx.

    Playwright sees neither the body of a sendBeacon request nor its answer,
    so what was recorded is checked by what the visitor sees next.
    """
    return page.expect_response(lambda r: r.url.endswith("/_tailor/e") and r.status == 200, timeout=15_000)


def test_add_to_cart_checkout_and_purchase_through_tailor(page, tailor_url):
    page.set_default_timeout(15_000)
    page.goto(tailor_url + "/p/rope-60m")
    with acknowledged(page):
        page.locator("button[data-tailor-event=add_to_cart]").first.click()  # CSRF form POST, 303 redirect
    page.goto(tailor_url + "/")
    promo = page.locator("[data-slot=promo]")
    assert promo.get_attribute("data-tailor-decision").startswith("d1.reminder.")  # the cart is remembered
    page.goto(tailor_url + "/cart")
    assert "rope" in page.locator("main").inner_text().lower()
    page.goto(tailor_url + "/checkout")
    page.fill("input[name=name]", "Ann Climber")
    page.fill("input[name=email]", "ann@example.com")
    page.fill("input[name=address]", "1 Crag Road")
    page.click("form.checkout button[type=submit]")  # CSRF form POST, 303 to the order page
    page.wait_for_url("**/order/*")
    marker = page.locator("[data-tailor-event=purchase]")
    assert marker.get_attribute("data-order") == page.url.rsplit("/", 1)[1]
    assert json.loads(marker.get_attribute("data-items"))[0]["item"] == "rope-60m"
    page.evaluate("tailor.flush()")  # the purchase beacon (sent by now or by the idle timer)
    # bought: the next page no longer reminds them of the cart (the beacon may still be on its way)
    decision = ""
    for _ in range(20):
        page.goto(tailor_url + "/")
        decision = page.locator("[data-slot=promo]").get_attribute("data-tailor-decision") or ""
        if not decision.startswith("d1.reminder."):
            break
        page.wait_for_timeout(250)
    assert not decision.startswith("d1.reminder."), decision
    assert page.console_errors == []  # type: ignore[attr-defined]
