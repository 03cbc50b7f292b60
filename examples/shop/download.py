"""The downloadable catalog export: one CSV row per product variant, streamed.

Rule: the file is generated on the fly in bounded chunks; memory stays flat
no matter how many rows are asked for.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator

from .catalog import Catalog

CHUNK_BYTES = 64 * 1024
_SIZES = ("XS", "S", "M", "L", "XL")
_COLORS = ("forest", "slate", "sand", "ember", "glacier", "night", "moss", "rust")
HEADER = ("sku", "item", "title", "category", "size", "color", "price", "tags")


def _rows(catalog: Catalog, row_count: int) -> Iterator[tuple[str, ...]]:
    products = catalog.products
    for index in range(row_count):
        product = products[index % len(products)]
        variant = index // len(products)
        size = _SIZES[variant % len(_SIZES)]
        color = _COLORS[(variant // len(_SIZES)) % len(_COLORS)]
        yield (
            f"{product.id}-{variant:06d}",
            product.id,
            product.title,
            product.category,
            size,
            color,
            f"{product.price_cents / 100:.2f}",
            " ".join(product.tags),
        )


async def catalog_csv_chunks(catalog: Catalog, row_count: int) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in _rows(catalog, row_count):
        writer.writerow(row)
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
