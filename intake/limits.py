"""Rate limits: a token bucket per API key and per client address.

A request takes one token; a bucket refills at ``rate`` per second up to ``burst``. An empty
bucket answers 429 with ``Retry-After`` (whole seconds until a token is back).

The intake service keeps its buckets in PostgreSQL (``intake_rate_bucket``, UNLOGGED, kept by
``intake_take_token``: migration 0009), so every uvicorn worker and every host on the same
database counts against the same bucket; ``keys.check`` takes them in the same round trip as the
key check. ``TokenBuckets`` is the in-process variant for a single process (the Streamlit pages).
"""
from __future__ import annotations

import math
import threading
import time


class TokenBuckets:
    def __init__(self, rate: float, burst: float, *, max_entries: int = 100_000):
        self.rate, self.burst, self.max_entries = rate, max(burst, 1.0), max_entries
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str, now: float | None = None) -> float:
        """Take a token for ``who``: 0.0 when allowed, else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._state[who] = (tokens - 1.0, now)
                return 0.0
            self._state[who] = (tokens, now)
            if len(self._state) > self.max_entries:  # forget the idle; a full bucket is the default anyway
                self._state = {k: v for k, v in self._state.items() if now - v[1] < self.burst / self.rate}
            return (1.0 - tokens) / self.rate


def retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))
