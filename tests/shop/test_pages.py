"""Every page renders as a full document with the slot markup Tailor reads."""

from __future__ import annotations

import httpx
import pytest

from examples.shop.catalog import CATEGORIES

from .conftest import parse

ITEM_FIELDS = ("data-item", "data-tags", "data-title", "data-url", "data-image", "data-price", "data-category")
PAGES = ["/", *(f"/c/{c}" for c in CATEGORIES), "/p/tent-2p", "/search?q=jacket", "/cart", "/login"]


def assert_full_item(node) -> None:
    for field in ITEM_FIELDS:
        assert node.attributes.get(field), f"{field} missing on {node.html[:120]}"


@pytest.mark.parametrize("path", PAGES)
def test_page_is_a_full_html_document(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!doctype html>")
    page = parse(response)
    assert page.css_first('meta[charset="utf-8"]') is not None
    assert page.css_first("head title").text().strip()
    search = page.css_first('form[action="/search"] input[name="q"]')
    assert search is not None


def test_home_has_hero_recommendations_and_promo(client: httpx.Client) -> None:
    page = parse(client.get("/"))
    hero = page.css_first('[data-slot="home-hero"][data-slot-type="carousel"]')
    slides = hero.css("[data-item]")
    assert len(slides) == 6
    for slide in slides:
        assert_full_item(slide)
    assert len({s.attributes["data-category"] for s in slides}) >= 3

    recs = page.css_first('section[data-slot="home-recs"][data-slot-type="recommendations"]')
    assert recs.attributes["data-limit"] == "4"
    template = recs.css_first("template[data-item-template]")
    assert template is not None and "{url}" in template.html and "{title}" in template.html
    fallback = [n for n in recs.css("a.card[data-item]") if n.parent.tag == "section"]
    assert len(fallback) == 4
    for card in fallback:
        assert_full_item(card)

    promo = page.css_first('[data-slot="promo"][data-slot-type="variant"]')
    variants = {t.attributes["data-variant"] for t in promo.css("template[data-variant]")}
    assert variants == {"urgent", "calm", "reminder"}
    assert "Free shipping over $50" in promo.text()


def test_category_page_lists_its_products_as_items(client: httpx.Client) -> None:
    page = parse(client.get("/c/climbing"))
    cards = page.css("article[data-item]")
    assert len(cards) == 8
    for card in cards:
        assert_full_item(card)
        assert card.attributes["data-category"] == "climbing"
        assert card.css_first('button[data-tailor-event="add_to_cart"]') is not None


def test_product_page_marks_itself_and_recommends_its_category(client: httpx.Client) -> None:
    page = parse(client.get("/p/gas-canister"))
    main_item = page.css("[data-page-item]")
    assert len(main_item) == 1
    assert main_item[0].attributes["data-item"] == "gas-canister"
    assert "replenishable" in main_item[0].attributes["data-tags"].split(",")
    assert_full_item(main_item[0])
    button = main_item[0].css_first('form[action="/cart/add"] button[data-tailor-event="add_to_cart"]')
    assert button is not None

    recs = page.css_first('section[data-slot="product-recs"][data-slot-type="recommendations"]')
    assert recs.attributes["data-limit"] == "4"
    assert recs.css_first("template[data-item-template]") is not None
    fallback = [n for n in recs.css("[data-item]") if n.parent.tag == "section"]
    assert len(fallback) == 4
    assert {n.attributes["data-category"] for n in fallback} == {"camping"}
    assert "gas-canister" not in {n.attributes["data-item"] for n in fallback}


def test_search_for_jacket_spans_categories(client: httpx.Client) -> None:
    page = parse(client.get("/search", params={"q": "jacket"}))
    results = page.css_first('ol[data-slot="search-results"][data-slot-type="search"]').css("li[data-item]")
    assert len(results) >= 8
    assert len({r.attributes["data-category"] for r in results}) >= 2
    for result in results:
        assert_full_item(result)


def test_search_escapes_the_query_and_handles_no_results(client: httpx.Client) -> None:
    response = client.get("/search", params={"q": '<script>alert("x")</script>'})
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert parse(response).css_first("[data-slot]") is None


def test_catalog_api_lists_48_products_in_6_categories(client: httpx.Client) -> None:
    products = client.get("/api/products").json()["products"]
    assert len(products) == 48
    assert {p["category"] for p in products} == set(CATEGORIES)
    assert len(client.get("/api/products", params={"category": "winter"}).json()["products"]) == 8
    bad = client.get("/api/products", params={"category": "sofas"})
    assert bad.status_code == 400 and "category" in bad.json()["error"]


def test_images_and_css_are_served_by_the_shop(client: httpx.Client) -> None:
    image = client.get("/img/tent-2p.svg")
    assert image.status_code == 200
    assert image.headers["content-type"].startswith("image/svg+xml")
    assert image.text.startswith("<svg")
    assert client.get("/img/nope.svg").status_code == 404
    assert client.get("/static/favicon.svg").status_code == 200
    css = client.get("/static/shop.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/nope", "/c/sofas", "/p/nope", "/order/o-0000000000", "/order/../../etc"])
def test_unknown_paths_get_an_html_404_page(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!doctype html>")
