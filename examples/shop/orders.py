"""Placed orders, kept in memory for the life of the process.

Rule: an order is a frozen snapshot of the cart at checkout (titles and
prices copied), so later catalog changes never alter it. The store is
bounded: the oldest orders are forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec


class OrderLine(msgspec.Struct, frozen=True):
    item: str
    title: str
    quantity: int
    price_cents: int


class Order(msgspec.Struct, frozen=True):
    id: str
    name: str
    email: str
    address: str
    lines: tuple[OrderLine, ...]
    customer: str | None = None

    @property
    def total_cents(self) -> int:
        return sum(line.price_cents * line.quantity for line in self.lines)


class OrderStore:
    def __init__(self, capacity: int = 10_000) -> None:
        self._orders: OrderedDict[str, Order] = OrderedDict()
        self._capacity = capacity

    def add(self, order: Order) -> None:
        self._orders[order.id] = order
        while len(self._orders) > self._capacity:
            self._orders.popitem(last=False)

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)
