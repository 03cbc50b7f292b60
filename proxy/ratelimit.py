"""Token buckets per key (visitor id, client address).

Rule: time comes from the injected clock (monotonic), memory is bounded (an
LRU of buckets; an evicted key starts again with a full bucket), and a refusal
says how long until the next token.
"""

from __future__ import annotations

import math

from cachetools import LRUCache

from proxy.clock import SYSTEM_CLOCK, Clock


class TokenBuckets:
    def __init__(self, *, rate: float, burst: int, clock: Clock = SYSTEM_CLOCK, max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: LRUCache[str, list[float]] = LRUCache(maxsize=max_keys)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens: 0.0 when allowed, else the seconds to wait (nothing taken)."""
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = [self.burst, now]
            self._buckets[key] = bucket
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= cost:
            bucket[0] = tokens - cost
            return 0.0
        bucket[0] = tokens
        return (cost - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """Retry-After wants whole seconds; never 0 for a refusal."""
    return str(max(1, math.ceil(seconds)))
