"""Product pictures: a small SVG drawn from the product itself, no external assets.

Rule: every string that lands in the SVG is escaped; the output depends only
on the product, so it can be cached forever by URL.
"""

from __future__ import annotations

import hashlib
from html import escape

from .catalog import Product

_CATEGORY_COLORS = {
    "camping": "#2f6f4f",
    "hiking": "#7a5c2e",
    "running": "#c0392b",
    "cycling": "#1f5f9f",
    "climbing": "#8e44ad",
    "winter": "#2c7a8c",
}


def product_svg(product: Product) -> bytes:
    color = _CATEGORY_COLORS.get(product.category, "#555555")
    digest = hashlib.sha256(product.id.encode()).digest()
    ridge = " ".join(f"{x},{60 + digest[i] % 50}" for i, x in enumerate(range(0, 321, 40)))
    initials = "".join(word[0] for word in product.title.split()[:2]).upper()
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200" viewBox="0 0 320 200" '
        f'role="img" aria-label="{escape(product.title)}">'
        f'<rect width="320" height="200" fill="{color}"/>'
        f'<polyline points="0,200 {ridge} 320,200" fill="#ffffff" fill-opacity="0.25"/>'
        f'<text x="160" y="125" font-family="sans-serif" font-size="56" text-anchor="middle" '
        f'fill="#ffffff">{escape(initials)}</text>'
        f'<text x="160" y="180" font-family="sans-serif" font-size="16" text-anchor="middle" '
        f'fill="#ffffff">{escape(product.title)}</text>'
        "</svg>"
    ).encode()
