"""HTML for every page of the shop, as plain strings.

Rule: every piece of text and every attribute value goes through `esc`
(html.escape with quotes), including values we wrote ourselves; slot markup
follows the attribute names Tailor reads (data-slot, data-item, ...).
"""

from __future__ import annotations

import json
from html import escape

import msgspec

from .cart import MAX_QUANTITY, CartLine
from .catalog import CATEGORIES, Product, format_price
from .orders import Order
from .security import CSRF_FIELD

ITEM_TEMPLATE = (
    '<template data-item-template><a class="card" href="{url}" data-item="{id}" data-tags="{tags}">'
    '<img src="{image}" alt="{title}"><span>{title}</span> <b>{price}</b></a></template>'
)


class PageContext(msgspec.Struct, frozen=True):
    """What every page needs besides its own content."""

    csrf: str
    cart_count: int = 0
    customer: str | None = None


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def item_attrs(product: Product) -> str:
    """The data-* attributes that describe a product to whoever reads the page."""
    return (
        f'data-item="{esc(product.id)}" data-tags="{esc(",".join(product.tags))}" '
        f'data-title="{esc(product.title)}" data-url="{esc(product.url)}" '
        f'data-image="{esc(product.image)}" data-price="{esc(product.price)}" '
        f'data-category="{esc(product.category)}"'
    )


def _csrf_input(context: PageContext) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(context.csrf)}">'


def _add_to_cart_form(product: Product, context: PageContext, *, quantity_field: bool) -> str:
    quantity = (
        f'<label>Qty <input type="number" name="qty" value="1" min="1" max="{MAX_QUANTITY}"></label> '
        if quantity_field
        else '<input type="hidden" name="qty" value="1">'
    )
    return (
        '<form class="add" method="post" action="/cart/add">'
        f"{_csrf_input(context)}"
        f'<input type="hidden" name="item" value="{esc(product.id)}">'
        f"{quantity}"
        '<button type="submit" data-tailor-event="add_to_cart">Add to cart</button>'
        "</form>"
    )


def _card_inner(product: Product) -> str:
    return (
        f'<img src="{esc(product.image)}" alt="{esc(product.title)}" width="320" height="200">'
        f"<span>{esc(product.title)}</span> <b>{esc(product.price)}</b>"
    )


def _link_card(product: Product) -> str:
    return f'<a class="card" href="{esc(product.url)}" {item_attrs(product)}>{_card_inner(product)}</a>'


def layout(title: str, body: str, context: PageContext) -> str:
    nav = "".join(f'<a href="/c/{esc(c)}">{esc(c.capitalize())}</a>' for c in CATEGORIES)
    if context.customer:
        account = (
            f'<span class="who">Signed in as {esc(context.customer)}</span>'
            '<form class="inline" method="post" action="/logout">'
            f'{_csrf_input(context)}<button type="submit">Sign out</button></form>'
        )
    else:
        account = '<a href="/login">Sign in</a>'
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} | Trailhead Outfitters</title>"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/shop.css"></head>\n<body>'
        '<header class="top"><a class="logo" href="/">Trailhead Outfitters</a>'
        f"<nav>{nav}</nav>"
        '<form class="search" action="/search" role="search">'
        '<input name="q" type="search" placeholder="Search gear" aria-label="Search">'
        '<button type="submit">Search</button></form>'
        f'<a class="cartlink" href="/cart">Cart ({context.cart_count})</a>{account}'
        f"</header>\n<main>{body}</main>\n"
        '<footer>Trailhead Outfitters is a demo shop. Prices in US dollars.</footer>'
        "</body></html>\n"
    )


def home_page(featured: list[Product], bestsellers: list[Product], context: PageContext) -> str:
    hero = "".join(
        f'<article class="slide" {item_attrs(p)}><a href="{esc(p.url)}">{_card_inner(p)}</a>'
        f"<p>{esc(p.description)}</p></article>"
        for p in featured
    )
    recs = "".join(_link_card(p) for p in bestsellers)
    body = (
        "<h1>Gear for every trail</h1>"
        f'<div class="hero" data-slot="home-hero" data-slot-type="carousel">{hero}</div>'
        '<div class="promo" data-slot="promo" data-slot-type="variant">'
        "<p>Free shipping over $50</p>"
        '<template data-variant="urgent"><p>Only a few left in stock: order today</p></template>'
        '<template data-variant="calm"><p>Take your time: free returns for 60 days</p></template>'
        '<template data-variant="reminder"><p>Still thinking about {title}? '
        '<a href="{url}">It is waiting in your cart</a></p></template>'
        "</div>"
        "<h2>Bestsellers</h2>"
        '<section class="grid" data-slot="home-recs" data-slot-type="recommendations" data-limit="4">'
        f"{ITEM_TEMPLATE}{recs}</section>"
    )
    return layout("Outdoor gear", body, context)


def category_page(category: str, products: list[Product], context: PageContext) -> str:
    cards = "".join(
        f'<article class="card" {item_attrs(p)}><a href="{esc(p.url)}">{_card_inner(p)}</a>'
        f"{_add_to_cart_form(p, context, quantity_field=False)}</article>"
        for p in products
    )
    body = f"<h1>{esc(category.capitalize())}</h1><div class=\"grid\">{cards}</div>"
    return layout(category.capitalize(), body, context)


def product_page(product: Product, also_viewed: list[Product], context: PageContext) -> str:
    tags = "".join(f"<li>{esc(tag)}</li>" for tag in product.tags)
    recs = "".join(_link_card(p) for p in also_viewed)
    body = (
        f'<nav class="crumbs"><a href="/">Home</a> / '
        f'<a href="/c/{esc(product.category)}">{esc(product.category.capitalize())}</a></nav>'
        f'<article class="product" data-page-item {item_attrs(product)}>'
        f'<img src="{esc(product.image)}" alt="{esc(product.title)}" width="320" height="200">'
        f"<div><h1>{esc(product.title)}</h1><p class=\"price\">{esc(product.price)}</p>"
        f"<p>{esc(product.description)}</p><ul class=\"tags\">{tags}</ul>"
        f"{_add_to_cart_form(product, context, quantity_field=True)}</div></article>"
        "<h2>Customers also viewed</h2>"
        '<section class="grid" data-slot="product-recs" data-slot-type="recommendations" data-limit="4">'
        f"{ITEM_TEMPLATE}{recs}</section>"
    )
    return layout(product.title, body, context)


def search_page(query: str, results: list[Product], context: PageContext) -> str:
    if results:
        items = "".join(
            f'<li {item_attrs(p)}><a href="{esc(p.url)}">{esc(p.title)}</a> '
            f"<b>{esc(p.price)}</b> <span>{esc(p.description)}</span></li>"
            for p in results
        )
        listing = (
            f"<p>{len(results)} results for <q>{esc(query)}</q></p>"
            f'<ol class="results" data-slot="search-results" data-slot-type="search">{items}</ol>'
        )
    elif query.strip():
        listing = f"<p>No products match <q>{esc(query)}</q>.</p>"
    else:
        listing = "<p>Type what you are looking for in the search box.</p>"
    return layout(f"Search: {query}" if query else "Search", f"<h1>Search</h1>{listing}", context)


def cart_page(lines: list[CartLine], context: PageContext) -> str:
    if not lines:
        body = '<h1>Your cart</h1><p>Your cart is empty. <a href="/">Keep shopping</a>.</p>'
        return layout("Cart", body, context)
    rows = "".join(
        f'<tr {item_attrs(line.product)}><td><a href="{esc(line.product.url)}">{esc(line.product.title)}</a></td>'
        f"<td>{line.quantity}</td><td>{esc(format_price(line.subtotal_cents))}</td>"
        '<td><form method="post" action="/cart/remove">'
        f'{_csrf_input(context)}<input type="hidden" name="item" value="{esc(line.product.id)}">'
        '<button type="submit">Remove</button></form></td></tr>'
        for line in lines
    )
    total = sum(line.subtotal_cents for line in lines)
    body = (
        "<h1>Your cart</h1>"
        f'<table class="cart"><thead><tr><th>Item</th><th>Qty</th><th>Subtotal</th><th></th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        f'<p class="total">Total: <b>{esc(format_price(total))}</b></p>'
        '<p><a class="button" href="/checkout">Checkout</a></p>'
    )
    return layout("Cart", body, context)


def checkout_page(lines: list[CartLine], context: PageContext, *, error: str = "", values: dict[str, str] | None = None) -> str:
    values = values or {}
    total = sum(line.subtotal_cents for line in lines)
    summary = "".join(
        f"<li>{line.quantity} x {esc(line.product.title)}: {esc(format_price(line.subtotal_cents))}</li>"
        for line in lines
    )
    fields = "".join(
        f'<label>{esc(label)} <input name="{name}" value="{esc(values.get(name, ""))}" required></label>'
        for name, label in (("name", "Full name"), ("email", "Email"), ("address", "Address"))
    )
    problem = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = (
        f"<h1>Checkout</h1>{problem}<ul>{summary}</ul>"
        f'<p class="total">Total: <b>{esc(format_price(total))}</b></p>'
        f'<form class="checkout" method="post" action="/checkout">{_csrf_input(context)}{fields}'
        '<button type="submit">Place order</button></form>'
    )
    return layout("Checkout", body, context)


def order_page(order: Order, context: PageContext) -> str:
    items_json = json.dumps(
        [{"item": line.item, "qty": line.quantity, "price": line.price_cents / 100} for line in order.lines],
        separators=(",", ":"),
    )
    revenue = f"{order.total_cents // 100}.{order.total_cents % 100:02d}"
    rows = "".join(
        f"<li>{line.quantity} x {esc(line.title)}: {esc(format_price(line.price_cents * line.quantity))}</li>"
        for line in order.lines
    )
    body = (
        f"<h1>Thank you, {esc(order.name)}!</h1>"
        f"<p>Order <b>{esc(order.id)}</b> is on its way to {esc(order.address)}.</p>"
        f'<ul>{rows}</ul><p class="total">Total: <b>{esc(format_price(order.total_cents))}</b></p>'
        f'<div data-tailor-event="purchase" data-order="{esc(order.id)}" data-revenue="{esc(revenue)}" '
        f"data-items='{esc(items_json)}' hidden></div>"
    )
    return layout("Order confirmed", body, context)


def login_page(context: PageContext, *, next_path: str = "/", error: str = "") -> str:
    problem = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = (
        f"<h1>Sign in</h1>{problem}"
        f'<form class="login" method="post" action="/login">{_csrf_input(context)}'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label>Email <input name="email" type="email" required autocomplete="email"></label>'
        '<label>Password <input name="password" type="password" autocomplete="current-password"></label>'
        '<button type="submit">Sign in</button></form>'
        "<p>Any email address works in this demo shop.</p>"
    )
    return layout("Sign in", body, context)


def error_page(status: int, message: str, context: PageContext) -> str:
    body = f'<h1>{status}</h1><p>{esc(message)}</p><p><a href="/">Back to the shop</a></p>'
    return layout(message, body, context)
