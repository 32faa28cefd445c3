"""Long CPU work inside a request without stalling the others served by the same event loop.

An import or a restore parses and validates tens of thousands of rows. Done in one go it
holds the event loop for seconds, and every other request waits. A ``Pacer`` is ticked once
per row: after ``work`` seconds of work it rests for ``rest`` seconds, during which the loop
serves everybody else (a request needs several loop turns — its database round trips — so
resting a little serves them far better than a bare ``sleep(0)``). It rests only while other
tasks are running on the loop (requests in flight: the fewest tasks it has seen are the
loop's standing background ones); alone, it just gives the loop one turn and goes on.

The other stall is Python's cyclic garbage collector: the hundreds of thousands of row objects
an import builds make every full collection walk all of them, and those collections stop the
whole process for up to a second. While a pacer is open (``with Pacer() as pacer``), what
exists is moved out of the collector's sight at each rest (``gc.freeze``) and handed back when
the last open pacer closes (``gc.unfreeze``); plain reference counting still frees everything
that is not in a cycle meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import time
from types import TracebackType

WORK_SECONDS = 0.001
REST_SECONDS = 0.004

_open_pacers = 0


class Pacer:
    """Tick once per unit of work; rests ``rest`` after every ``work`` seconds of it."""

    def __init__(self, work: float = WORK_SECONDS, rest: float = REST_SECONDS) -> None:
        self.work = work
        self.rest = rest
        self._since = time.perf_counter()
        self._open = False
        self._background: int | None = None

    def __enter__(self) -> Pacer:
        global _open_pacers
        _open_pacers += 1
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _open_pacers
        self._open = False
        _open_pacers -= 1
        if _open_pacers == 0:
            gc.unfreeze()

    async def tick(self) -> None:
        """Rest when this slice of work has used up its time."""
        if time.perf_counter() - self._since >= self.work:
            if self._open:
                gc.freeze()
            running = len(asyncio.all_tasks())
            if self._background is None or running < self._background:
                self._background = running
            await asyncio.sleep(self.rest if running > self._background else 0)
            self._since = time.perf_counter()
