"""The shop's web app: routes, cookies, caching headers, error pages.

Rule: the shop does not know Tailor. Its only Tailor-aware behaviour is the
optional `customer_header` naming the logged-in customer on responses. All
request input (forms, cookies, query strings) is validated here; bad input
gets a 4xx page, never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.requests import Request, cookie_parser
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import pages
from .cart import CART_COOKIE, MAX_QUANTITY, add_to_cart, cart_lines, decode_cart, encode_cart, remove_from_cart
from .catalog import CATEGORIES, Catalog
from .download import catalog_csv_chunks
from .images import product_svg
from .orders import Order, OrderLine, OrderStore
from .pages import PageContext
from .security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    csrf_ok,
    customer_id_for,
    is_well_formed_token,
    sign_session,
    verify_session,
)

STATIC_DIR = Path(__file__).with_name("static")
MAX_FORM_BYTES = 16 * 1024
CUSTOMER_SCOPE_KEY = "shop.customer"
_ORDER_ID = re.compile(r"^o-[0-9a-f]{10}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")


class ApiProduct(msgspec.Struct, frozen=True):
    id: str
    title: str
    category: str
    price: str
    price_cents: int
    tags: tuple[str, ...]
    url: str
    image: str
    description: str


class CustomerHeaderMiddleware:
    """Reads the session cookie once per request and names the customer on the response.

    Handlers may change `scope["shop.customer"]` (login, logout) before they
    respond; the header reflects the value at response time.
    """

    def __init__(self, app: ASGIApp, *, secret: bytes, header: str | None) -> None:
        self.app = app
        self.secret = secret
        self.header = header.lower().encode("latin-1") if header else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie_header = next((v for k, v in scope["headers"] if k == b"cookie"), b"")
        cookies = cookie_parser(cookie_header.decode("latin-1"))
        scope[CUSTOMER_SCOPE_KEY] = verify_session(cookies.get(SESSION_COOKIE), self.secret)

        async def send_with_customer(message: Message) -> None:
            customer = scope.get(CUSTOMER_SCOPE_KEY)
            if message["type"] == "http.response.start" and customer and self.header:
                message["headers"] = [*message.get("headers", []), (self.header, customer.encode("latin-1"))]
            await send(message)

        await self.app(scope, receive, send_with_customer)


class Shop:
    """Route handlers over one catalog, one order store and one signing secret."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        secret: bytes,
        random_bytes: Callable[[int], bytes],
        download_rows: int,
        secure_cookies: bool,
    ) -> None:
        self.catalog = catalog
        self.orders = OrderStore()
        self.secret = secret
        self.random_bytes = random_bytes
        self.download_rows = download_rows
        self.secure_cookies = secure_cookies

    # -- helpers ---------------------------------------------------------

    def _new_csrf_token(self) -> str:
        return base64.urlsafe_b64encode(self.random_bytes(24)).decode().rstrip("=")

    def _cart(self, request: Request) -> dict[str, int]:
        return decode_cart(request.cookies.get(CART_COOKIE), self.catalog)

    def _set_cookie(self, response: Response, key: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(
            key, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=self.secure_cookies
        )

    def _page(
        self,
        request: Request,
        render: Callable[[PageContext], str],
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        token = request.cookies.get(CSRF_COOKIE)
        fresh_token = None if is_well_formed_token(token) else self._new_csrf_token()
        context = PageContext(
            csrf=fresh_token or token or "",
            cart_count=sum(self._cart(request).values()),
            customer=request.scope.get(CUSTOMER_SCOPE_KEY),
        )
        response = HTMLResponse(render(context), status_code=status_code, headers=headers)
        response.headers["Cache-Control"] = "private, no-cache"
        if fresh_token:
            self._set_cookie(response, CSRF_COOKIE, fresh_token)
        return response

    async def _form(self, request: Request) -> dict[str, str]:
        """A url-encoded form body, CSRF-checked. Raises 4xx HTTPExceptions."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise HTTPException(415, "Forms must be sent as application/x-www-form-urlencoded.")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise HTTPException(413, "That form is too large.")
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(400, "That form could not be read.") from None
        form = {key: values[0] for key, values in parsed.items()}
        if not csrf_ok(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
            raise HTTPException(403, "Your session token is missing or stale. Go back, reload the page and try again.")
        return form

    # -- pages -----------------------------------------------------------

    async def home(self, request: Request) -> Response:
        featured = self.catalog.featured()[:6]
        featured_ids = {p.id for p in featured}
        bestsellers = [p for p in self.catalog.bestsellers(len(self.catalog.products)) if p.id not in featured_ids][:4]
        return self._page(request, lambda ctx: pages.home_page(featured, bestsellers, ctx))

    async def category(self, request: Request) -> Response:
        category = request.path_params["category"]
        if category not in CATEGORIES:
            raise HTTPException(404, "We do not have that category.")
        products = self.catalog.in_category(category)
        return self._page(request, lambda ctx: pages.category_page(category, products, ctx))

    async def product(self, request: Request) -> Response:
        product = self.catalog.get(request.path_params["product_id"])
        if product is None:
            raise HTTPException(404, "We do not have that product.")
        also_viewed = self.catalog.also_viewed(product, 4)
        response = self._page(request, lambda ctx: pages.product_page(product, also_viewed, ctx))
        etag = '"' + hashlib.sha256(response.body).hexdigest()[:20] + '"'
        response.headers["ETag"] = etag
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "private, no-cache"})
        return response

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "")[:200]
        results = self.catalog.search(query)
        return self._page(request, lambda ctx: pages.search_page(query, results, ctx))

    async def cart(self, request: Request) -> Response:
        lines = cart_lines(self._cart(request), self.catalog)
        return self._page(request, lambda ctx: pages.cart_page(lines, ctx))

    async def cart_add(self, request: Request) -> Response:
        form = await self._form(request)
        product = self.catalog.get(form.get("item", ""))
        if product is None:
            raise HTTPException(400, "That item is not in our catalog.")
        try:
            quantity = int(form.get("qty", "1"))
        except ValueError:
            raise HTTPException(400, "Quantity must be a whole number.") from None
        if not 1 <= quantity <= MAX_QUANTITY:
            raise HTTPException(400, f"Quantity must be between 1 and {MAX_QUANTITY}.")
        cart = add_to_cart(self._cart(request), product.id, quantity)
        response = RedirectResponse("/cart", status_code=303)
        self._set_cookie(response, CART_COOKIE, encode_cart(cart), max_age=30 * 24 * 3600)
        return response

    async def cart_remove(self, request: Request) -> Response:
        form = await self._form(request)
        cart = remove_from_cart(self._cart(request), form.get("item", ""))
        response = RedirectResponse("/cart", status_code=303)
        self._set_cookie(response, CART_COOKIE, encode_cart(cart), max_age=30 * 24 * 3600)
        return response

    async def checkout(self, request: Request) -> Response:
        lines = cart_lines(self._cart(request), self.catalog)
        if request.method == "GET":
            if not lines:
                return RedirectResponse("/cart", status_code=303)
            return self._page(request, lambda ctx: pages.checkout_page(lines, ctx))
        form = await self._form(request)
        if not lines:
            return RedirectResponse("/cart", status_code=303)
        values = {key: form.get(key, "").strip() for key in ("name", "email", "address")}
        error = _checkout_problem(values)
        if error:
            return self._page(
                request, lambda ctx: pages.checkout_page(lines, ctx, error=error, values=values), status_code=400
            )
        order = Order(
            id="o-" + self.random_bytes(5).hex(),
            name=values["name"],
            email=values["email"],
            address=values["address"],
            lines=tuple(
                OrderLine(item=l.product.id, title=l.product.title, quantity=l.quantity, price_cents=l.product.price_cents)
                for l in lines
            ),
            customer=request.scope.get(CUSTOMER_SCOPE_KEY),
        )
        self.orders.add(order)
        response = RedirectResponse(f"/order/{order.id}", status_code=303)
        response.delete_cookie(CART_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure_cookies)
        return response

    async def order(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        order = self.orders.get(order_id) if _ORDER_ID.match(order_id) else None
        if order is None:
            raise HTTPException(404, "We have no order with that number.")
        return self._page(request, lambda ctx: pages.order_page(order, ctx))

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            next_path = _safe_next(request.query_params.get("next", "/"))
            return self._page(request, lambda ctx: pages.login_page(ctx, next_path=next_path))
        form = await self._form(request)
        email = form.get("email", "").strip()
        next_path = _safe_next(form.get("next", "/"))
        if not _EMAIL.match(email):
            return self._page(
                request,
                lambda ctx: pages.login_page(ctx, next_path=next_path, error="Please enter a valid email address."),
                status_code=400,
            )
        customer_id = customer_id_for(email)
        request.scope[CUSTOMER_SCOPE_KEY] = customer_id
        response = RedirectResponse(next_path, status_code=303)
        self._set_cookie(response, SESSION_COOKIE, sign_session(customer_id, self.secret), max_age=14 * 24 * 3600)
        return response

    async def logout(self, request: Request) -> Response:
        await self._form(request)
        request.scope[CUSTOMER_SCOPE_KEY] = None
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure_cookies)
        return response

    # -- non-HTML --------------------------------------------------------

    async def image(self, request: Request) -> Response:
        product = self.catalog.get(request.path_params["product_id"])
        if product is None:
            raise HTTPException(404, "We have no picture of that.")
        return Response(
            product_svg(product),
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    async def api_products(self, request: Request) -> Response:
        category = request.query_params.get("category")
        if category is not None and category not in CATEGORIES:
            return Response(
                msgspec.json.encode({"error": f"category: unknown category, expected one of {list(CATEGORIES)}"}),
                status_code=400,
                media_type="application/json",
            )
        products = [p for p in self.catalog.products if category is None or p.category == category]
        payload = [
            ApiProduct(
                id=p.id, title=p.title, category=p.category, price=p.price, price_cents=p.price_cents,
                tags=p.tags, url=p.url, image=p.image, description=p.description,
            )
            for p in products
        ]
        return Response(msgspec.json.encode({"products": payload}), media_type="application/json")

    async def download_catalog(self, request: Request) -> Response:
        return StreamingResponse(
            catalog_csv_chunks(self.catalog, self.download_rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="catalog.csv"'},
        )

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "We could not find that page."
        return self._page(
            request,
            lambda ctx: pages.error_page(exc.status_code, message, ctx),
            status_code=exc.status_code,
            headers=dict(exc.headers or {}),
        )


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {candidate.strip().removeprefix("W/") for candidate in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def _safe_next(path: str) -> str:
    """Only same-site paths: '/x' yes; '//evil', '/\\evil', 'http://evil' no."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 0x20 for c in path):
        return "/"
    return path[:500]


def _checkout_problem(values: dict[str, str]) -> str:
    if not 1 <= len(values["name"]) <= 100:
        return "Please enter your name (up to 100 characters)."
    if not _EMAIL.match(values["email"]):
        return "Please enter a valid email address."
    if not 1 <= len(values["address"]) <= 300:
        return "Please enter a delivery address (up to 300 characters)."
    return ""


def create_app(
    *,
    catalog: Catalog | None = None,
    customer_header: str | None = "X-Tailor-Customer",
    secret: bytes | None = None,
    random_bytes: Callable[[int], bytes] = os.urandom,
    download_rows: int = 50_000,
    secure_cookies: bool = False,
) -> Starlette:
    """The shop as an ASGI app.

    customer_header: response header naming the logged-in customer (None: never sent).
    secret: key that signs session cookies; a random one per app when None.
    random_bytes: source of CSRF tokens and order ids (inject for deterministic tests).
    download_rows: how many CSV rows /download/catalog.csv streams.
    """
    shop = Shop(
        catalog or Catalog.load(),
        secret=secret or os.urandom(32),
        random_bytes=random_bytes,
        download_rows=download_rows,
        secure_cookies=secure_cookies,
    )
    routes = [
        Route("/", shop.home),
        Route("/c/{category}", shop.category),
        Route("/p/{product_id}", shop.product),
        Route("/search", shop.search),
        Route("/cart", shop.cart),
        Route("/cart/add", shop.cart_add, methods=["POST"]),
        Route("/cart/remove", shop.cart_remove, methods=["POST"]),
        Route("/checkout", shop.checkout, methods=["GET", "POST"]),
        Route("/order/{order_id}", shop.order),
        Route("/login", shop.login, methods=["GET", "POST"]),
        Route("/logout", shop.logout, methods=["POST"]),
        Route("/img/{product_id}.svg", shop.image),
        Route("/api/products", shop.api_products),
        Route("/download/catalog.csv", shop.download_catalog),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [
        Middleware(CustomerHeaderMiddleware, secret=shop.secret, header=customer_header),
        Middleware(
            GZipMiddleware, minimum_size=500, exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "text/csv")
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: shop.http_error})
    app.state.shop = shop
    return app
