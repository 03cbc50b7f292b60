"""The product catalog: loaded once from products.json, read-only afterwards.

Rule: a catalog is validated as a whole when it is loaded (typed Structs,
unique ids, known categories); nothing downstream re-checks it.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

CATEGORIES: tuple[str, ...] = ("camping", "hiking", "running", "cycling", "climbing", "winter")
DEFAULT_CATALOG_PATH = Path(__file__).with_name("products.json")
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_WORD = re.compile(r"[a-z0-9]+")


class Product(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    title: str
    category: str
    price_cents: int
    tags: tuple[str, ...]
    description: str
    popularity: int = 0
    featured: bool = False

    @property
    def url(self) -> str:
        return f"/p/{self.id}"

    @property
    def image(self) -> str:
        return f"/img/{self.id}.svg"

    @property
    def price(self) -> str:
        return format_price(self.price_cents)


class CatalogError(ValueError):
    """The catalog file is unreadable or inconsistent; the message names the field."""


def format_price(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


class Catalog:
    """All products, with lookups by id and category, and a simple search."""

    def __init__(self, products: list[Product]) -> None:
        seen: dict[str, Product] = {}
        for index, product in enumerate(products):
            where = f"products[{index}]"
            if not _ID_PATTERN.match(product.id):
                raise CatalogError(f"{where}.id: {product.id!r} is not a lowercase slug")
            if product.id in seen:
                raise CatalogError(f"{where}.id: duplicate id {product.id!r}")
            if product.category not in CATEGORIES:
                raise CatalogError(f"{where}.category: unknown category {product.category!r}")
            if product.price_cents < 0:
                raise CatalogError(f"{where}.price_cents: must not be negative")
            seen[product.id] = product
        self.products: tuple[Product, ...] = tuple(products)
        self._by_id = seen

    @classmethod
    def load(cls, path: Path = DEFAULT_CATALOG_PATH) -> Catalog:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CatalogError(f"{path}: cannot read catalog: {exc}") from exc
        try:
            products = msgspec.json.decode(raw, type=list[Product])
        except msgspec.ValidationError as exc:
            raise CatalogError(f"{path}: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise CatalogError(f"{path}: not valid JSON: {exc}") from exc
        return cls(products)

    def get(self, product_id: str) -> Product | None:
        return self._by_id.get(product_id)

    def in_category(self, category: str) -> list[Product]:
        return sorted((p for p in self.products if p.category == category), key=_by_popularity)

    def featured(self) -> list[Product]:
        return [p for p in self.products if p.featured]

    def bestsellers(self, limit: int) -> list[Product]:
        return sorted(self.products, key=_by_popularity)[:limit]

    def also_viewed(self, product: Product, limit: int) -> list[Product]:
        return [p for p in self.in_category(product.category) if p.id != product.id][:limit]

    def search(self, query: str, limit: int = 24) -> list[Product]:
        """Products ranked by how many query words hit the title, tags, category, description."""
        words = _WORD.findall(query.lower())[:10]
        if not words:
            return []
        scored: list[tuple[int, Product]] = []
        for product in self.products:
            title_words = set(_WORD.findall(product.title.lower()))
            description_words = set(_WORD.findall(product.description.lower()))
            score = 0
            for word in words:
                singular = word[:-1] if word.endswith("s") and len(word) > 3 else word
                forms = {word, singular, singular + "s"}
                if forms & title_words:
                    score += 3
                if forms & set(product.tags):
                    score += 2
                if product.category in forms:
                    score += 2
                if forms & description_words:
                    score += 1
            if score:
                scored.append((score, product))
        scored.sort(key=lambda pair: (-pair[0], -pair[1].popularity, pair[1].id))
        return [product for _, product in scored[:limit]]


def _by_popularity(product: Product) -> tuple[int, str]:
    return (-product.popularity, product.id)
