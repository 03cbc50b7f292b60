"""Cookie cart with double-submit CSRF, checkout, and the order confirmation marker."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import form_token, parse


def cart_items(client: httpx.Client) -> dict[str, int]:
    page = parse(client.get("/cart"))
    return {row.attributes["data-item"]: int(row.css("td")[1].text()) for row in page.css("tr[data-item]")}


def add(client: httpx.Client, item: str, qty: int = 1, token: str | None = None) -> httpx.Response:
    data = {"item": item, "qty": str(qty)}
    if token is not None:
        data["csrf"] = token
    return client.post("/cart/add", data=data)


def test_add_and_remove_items(client: httpx.Client) -> None:
    token = form_token(client, "/p/tent-2p")
    response = add(client, "tent-2p", 2, token)
    assert response.status_code == 303 and response.headers["location"] == "/cart"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("shop_cart="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    add(client, "chalk", 1, token)
    add(client, "tent-2p", 1, token)
    assert cart_items(client) == {"tent-2p": 3, "chalk": 1}
    assert "Cart (4)" in client.get("/").text

    removed = client.post("/cart/remove", data={"item": "tent-2p", "csrf": token})
    assert removed.status_code == 303
    assert cart_items(client) == {"chalk": 1}


@pytest.mark.parametrize("token", [None, "", "forged-token-forged-token", "a" * 500])
def test_missing_or_bad_csrf_token_is_refused_and_changes_nothing(client: httpx.Client, token: str | None) -> None:
    good = form_token(client)
    add(client, "chalk", 1, good)
    response = add(client, "tent-2p", 1, token)
    assert response.status_code == 403
    assert response.text.startswith("<!doctype html>")
    assert client.post("/cart/remove", data={"item": "chalk", "csrf": token or ""}).status_code == 403
    assert cart_items(client) == {"chalk": 1}


def test_token_without_its_cookie_is_refused(shop_url: str, client: httpx.Client) -> None:
    token = form_token(client)
    with httpx.Client(base_url=shop_url) as stranger:
        assert stranger.post("/cart/add", data={"item": "chalk", "qty": "1", "csrf": token}).status_code == 403


@pytest.mark.parametrize(("item", "qty"), [("sofa", 1), ("chalk", 0), ("chalk", 11), ("chalk", "two")])
def test_bad_cart_input_gets_400(client: httpx.Client, item: str, qty: object) -> None:
    token = form_token(client)
    response = client.post("/cart/add", data={"item": item, "qty": str(qty), "csrf": token})
    assert response.status_code == 400
    assert cart_items(client) == {}


def test_non_form_bodies_are_refused(client: httpx.Client) -> None:
    form_token(client)
    assert client.post("/cart/add", json={"item": "chalk"}).status_code == 415
    too_big = client.post("/cart/add", content=b"x=" + b"a" * 20_000,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert too_big.status_code == 413


def test_tampered_cart_cookie_yields_a_smaller_cart_not_an_error(shop_url: str) -> None:
    cookies = {"shop_cart": "chalk:2.sofa:1.tent-2p:99.<script>:1.gas-canister:3"}
    with httpx.Client(base_url=shop_url, cookies=cookies) as c:
        assert cart_items(c) == {"chalk": 2, "gas-canister": 3}


def test_checkout_places_an_order_with_a_purchase_marker(client: httpx.Client) -> None:
    token = form_token(client)
    add(client, "energy-bars", 2, token)
    add(client, "road-shoes", 1, token)
    assert client.get("/checkout").status_code == 200
    order = {"name": 'Ada "Trail" <Lovelace>', "email": "ada@example.org", "address": "1 Ridge Rd", "csrf": token}
    placed = client.post("/checkout", data=order)
    assert placed.status_code == 303
    location = placed.headers["location"]
    assert location.startswith("/order/o-")

    confirmation = client.get(location)
    assert confirmation.status_code == 200
    assert "<Lovelace>" not in confirmation.text
    marker = parse(confirmation).css_first('[data-tailor-event="purchase"]')
    assert marker.attributes["data-order"] == location.removeprefix("/order/")
    assert marker.attributes["data-revenue"] == "187.00"
    assert "hidden" in marker.attributes
    items = json.loads(marker.attributes["data-items"])
    assert items == [{"item": "energy-bars", "qty": 2, "price": 24.0}, {"item": "road-shoes", "qty": 1, "price": 139.0}]
    assert cart_items(client) == {}, "the cart is emptied by the order"


def test_checkout_validates_fields_and_keeps_the_cart(client: httpx.Client) -> None:
    token = form_token(client)
    add(client, "chalk", 1, token)
    response = client.post("/checkout", data={"name": "Ada", "email": "not-an-email", "address": "x", "csrf": token})
    assert response.status_code == 400
    assert "valid email" in response.text
    assert 'value="Ada"' in response.text
    assert cart_items(client) == {"chalk": 1}
    assert client.post("/checkout", data={"name": "Ada", "email": "a@b.c", "address": "x"}).status_code == 403


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client: httpx.Client) -> None:
    token = form_token(client)
    assert client.get("/checkout").headers["location"] == "/cart"
    response = client.post("/checkout", data={"name": "A", "email": "a@b.c", "address": "x", "csrf": token})
    assert response.status_code == 303 and response.headers["location"] == "/cart"
