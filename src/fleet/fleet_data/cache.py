"""A short-lived per-process cache of the dashboard, dropped on every fleet-data change.

The dashboard aggregates over the whole fleet (100 000 devices: tens of milliseconds); managers
reload it often while the fleet changes slowly. Changes made through this module invalidate it at
once in this process; anything else (test completions, other workers) shows within
``DASHBOARD_TTL_SECONDS``. The answer carries ``generated_at`` so the page says how fresh it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

DASHBOARD_TTL_SECONDS = 10.0

_generation = 0


def bump() -> None:
    """Record that customers or devices changed in this process."""
    global _generation
    _generation += 1


@dataclass
class DashboardCache:
    value: Any = None
    stored_at: float = 0.0
    generation: int = -1

    def get(self) -> Any:
        """Answer the cached value if it is recent and nothing changed since, else ``None``."""
        fresh = time.monotonic() - self.stored_at < DASHBOARD_TTL_SECONDS
        if self.value is not None and fresh and self.generation == _generation:
            return self.value
        return None

    def put(self, value: Any) -> None:
        self.value, self.stored_at, self.generation = value, time.monotonic(), _generation
