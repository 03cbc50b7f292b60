"""The cart lives in a cookie: `id:qty` pairs joined by dots.

Rule: the cookie is untrusted input. Decoding never raises; unknown ids,
bad quantities and excess lines are dropped, so a tampered cookie yields a
smaller cart, never an error.
"""

from __future__ import annotations

import re

import msgspec

from .catalog import Catalog, Product

CART_COOKIE = "shop_cart"
MAX_LINES = 20
MAX_QUANTITY = 10
_PAIR = re.compile(r"^([a-z0-9][a-z0-9-]{0,63}):([0-9]{1,3})$")


class CartLine(msgspec.Struct, frozen=True):
    product: Product
    quantity: int

    @property
    def subtotal_cents(self) -> int:
        return self.product.price_cents * self.quantity


def decode_cart(value: str | None, catalog: Catalog) -> dict[str, int]:
    """Cookie value -> {product id: quantity}, keeping only what is valid."""
    cart: dict[str, int] = {}
    if not value:
        return cart
    for pair in value.split(".")[: MAX_LINES * 2]:
        match = _PAIR.match(pair)
        if match is None:
            continue
        product_id, quantity = match.group(1), int(match.group(2))
        if catalog.get(product_id) is None or not 1 <= quantity <= MAX_QUANTITY:
            continue
        if product_id not in cart and len(cart) >= MAX_LINES:
            continue
        cart[product_id] = quantity
    return cart


def encode_cart(cart: dict[str, int]) -> str:
    return ".".join(f"{product_id}:{quantity}" for product_id, quantity in cart.items())


def add_to_cart(cart: dict[str, int], product_id: str, quantity: int) -> dict[str, int]:
    updated = dict(cart)
    if product_id not in updated and len(updated) >= MAX_LINES:
        return updated
    updated[product_id] = min(MAX_QUANTITY, updated.get(product_id, 0) + quantity)
    return updated


def remove_from_cart(cart: dict[str, int], product_id: str) -> dict[str, int]:
    return {key: value for key, value in cart.items() if key != product_id}


def cart_lines(cart: dict[str, int], catalog: Catalog) -> list[CartLine]:
    lines = []
    for product_id, quantity in cart.items():
        product = catalog.get(product_id)
        if product is not None:
            lines.append(CartLine(product=product, quantity=quantity))
    return lines
