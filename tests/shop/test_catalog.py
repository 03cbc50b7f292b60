"""The catalog file, hostile catalog text, and the shop's independence from Tailor."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import msgspec
import pytest

from examples.shop.app import create_app
from examples.shop.catalog import CATEGORIES, Catalog, CatalogError, Product
from proxy.events import PurchaseLine

from .conftest import form_token, parse, serve

SHOP_DIR = Path(__file__).parents[2] / "examples" / "shop"


def test_shipped_catalog_has_48_products_with_cross_cutting_tags() -> None:
    catalog = Catalog.load()
    assert len(catalog.products) == 48
    for category in CATEGORIES:
        assert len(catalog.in_category(category)) == 8
    tags = {tag for p in catalog.products for tag in p.tags}
    assert {"outdoor", "kids", "sale", "lightweight", "waterproof", "replenishable"} <= tags
    assert {"gas-canister", "energy-bars", "chalk"} <= {p.id for p in catalog.products if "replenishable" in p.tags}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'[{"id": "a"}]', "missing required field"),
        (b'[{"id":"a","title":"A","category":"sofas","price_cents":1,"tags":[],"description":""}]', "products[0].category"),
        (b'[{"id":"A B","title":"A","category":"winter","price_cents":1,"tags":[],"description":""}]', "products[0].id"),
        (b'[{"id":"a","title":"A","category":"winter","price_cents":"1","tags":[],"description":""}]', "price_cents"),
    ],
)
def test_bad_catalog_files_name_the_problem(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "products.json"
    path.write_bytes(content)
    with pytest.raises(CatalogError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Catalog.load(path)


def test_duplicate_ids_and_missing_files_are_refused(tmp_path: Path) -> None:
    product = Product(id="a", title="A", category="winter", price_cents=1, tags=(), description="")
    with pytest.raises(CatalogError, match=r"products\[1\]\.id: duplicate"):
        Catalog([product, product])
    with pytest.raises(CatalogError, match="cannot read"):
        Catalog.load(tmp_path / "missing.json")


def test_hostile_catalog_text_is_escaped_everywhere() -> None:
    evil = '"><script>alert(1)</script>\'&'
    product = Product(id="evil", title=evil, category="winter", price_cents=100, tags=("winter", evil),
                      description=evil, featured=True, popularity=100)
    others = [Product(id=f"p{i}", title=f"P{i}", category="winter", price_cents=i, tags=("winter",), description="d")
              for i in range(5)]
    with serve(create_app(catalog=Catalog([product, *others]))) as url, httpx.Client(base_url=url) as c:
        for path in ("/", "/c/winter", "/p/evil", "/search?q=script", "/img/evil.svg"):
            response = c.get(path)
            assert response.status_code == 200, path
            assert "<script>" not in response.text, path
        page = parse(c.get("/p/evil"))
        item = page.css_first("[data-page-item]")
        assert item.attributes["data-title"] == evil
        assert item.attributes["data-tags"] == f"winter,{evil}"

        token = form_token(c)
        c.post("/cart/add", data={"item": "evil", "qty": "1", "csrf": token})
        placed = c.post("/checkout", data={"name": evil, "email": "a@b.c", "address": evil, "csrf": token})
        confirmation = c.get(placed.headers["location"])
        assert "<script>" not in confirmation.text
        marker = parse(confirmation).css_first('[data-tailor-event="purchase"]')
        lines = msgspec.json.decode(marker.attributes["data-items"], type=tuple[PurchaseLine, ...])
        assert lines == (PurchaseLine(item="evil", qty=1, price=1.0),)
        assert json.loads(marker.attributes["data-revenue"]) == 1.0


def test_the_shop_does_not_import_tailor() -> None:
    for source in SHOP_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"proxy", "slots", "tag"}, f"{source.name} imports {name}"
