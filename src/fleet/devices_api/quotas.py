"""DDI quotas: how often one device may poll and how many reports one action may take, per
minute, answered 429 with ``Retry-After`` past the limit (as hawkBit answers past its quotas).

Counted in the worker's memory in fixed one-minute windows: a quota protects the server from a
client stuck in a loop, it is not an account, so it need not survive a restart, and with several
workers each counts the requests it serves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

from fleet.errors import TooManyRequests

WINDOW = 60.0
_MAX_KEYS = 200_000  # forget the oldest windows past this (a fleet of that many polls at once)


class Quota:
    """At most ``limit`` hits per key in each ``WINDOW``-second window (0: no limit)."""

    def __init__(self, limit: int, what: str, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.what = what
        self._clock = clock
        self._windows: dict[Hashable, tuple[float, int]] = {}

    def hit(self, key: Hashable) -> None:
        """Count one request of ``key``; raise 429 with ``Retry-After`` past the limit."""
        if self.limit <= 0:
            return
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= WINDOW:
            start, count = now, 0
        if count >= self.limit:
            retry = math.ceil(start + WINDOW - now)
            raise TooManyRequests(
                f"Quota exceeded: at most {self.limit} {self.what} per minute", retry_after=retry
            )
        if key not in self._windows and len(self._windows) >= _MAX_KEYS:
            self._forget_expired(now)
        self._windows[key] = (start, count + 1)

    def _forget_expired(self, now: float) -> None:
        self._windows = {k: v for k, v in self._windows.items() if now - v[0] < WINDOW}
        while len(self._windows) >= _MAX_KEYS:
            self._windows.pop(next(iter(self._windows)))
