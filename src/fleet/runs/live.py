"""The simulated bench streaming a step in (accelerated) real time: samples are appended to the
running test in small batches and published as ``sensor.reading`` events, as a device would."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from fleet.db import lock_row
from fleet.errors import DomainError
from fleet.models import TestReport
from fleet.runs import bench, lifecycle
from fleet.runs.samples import append_samples
from fleet.state import app_state

TICK_S = 0.2


@dataclass
class BenchRun:
    report_id: int
    step_order: int
    total: int
    profile: str
    speed: float
    sent: int = 0
    running: bool = True
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step_order": self.step_order,
            "running": self.running,
            "sent": self.sent,
            "total": self.total,
            "profile": self.profile,
            "speed": self.speed,
            "error": self.error,
        }


class BenchRunner:
    """Keeps the bench runs of this process, one per test."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.runs: dict[int, BenchRun] = {}

    def get(self, report_id: int) -> BenchRun | None:
        return self.runs.get(report_id)

    def start(
        self,
        report_id: int,
        step: dict[str, Any],
        steps: list[dict[str, Any]],
        profile: str,
        speed: float,
        rate_hz: float,
    ) -> BenchRun:
        """Start streaming one step's curve; answers the run."""
        samples = bench.generate(
            step, steps, profile, rate_hz, seed=report_id * 100 + int(step["step_order"])
        )
        run = BenchRun(report_id, int(step["step_order"]), len(samples), profile, speed)
        self.runs[report_id] = run
        run.task = asyncio.create_task(self._stream(run, samples))
        return run

    async def _stream(self, run: BenchRun, samples: list[dict[str, float]]) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        times = [s["t"] for s in samples]
        factory = app_state(self.app).sessionmaker
        try:
            while run.sent < run.total:
                await asyncio.sleep(TICK_S)
                due = bisect.bisect_right(times, (loop.time() - began) * run.speed)
                if due <= run.sent:
                    continue
                chunk = samples[run.sent : due]
                async with factory() as session, session.begin():
                    # Locked like every other writer of the trace (fleet.db.lock_row).
                    report = await lock_row(session, TestReport, run.report_id)
                    if report is None:
                        raise DomainError("test disappeared")
                    info = await append_samples(
                        session, report, chunk, step_order=run.step_order, source="bench"
                    )
                    await lifecycle.touch(session, run.report_id)
                run.sent = due
                await app_state(self.app).events.publish(
                    f"test:{run.report_id}",
                    "sensor.reading",
                    {
                        "test_id": run.report_id,
                        "step_order": run.step_order,
                        "samples": info["samples"],
                        "total": info["total"],
                    },
                )
        except DomainError as exc:
            run.error = str(exc.detail)
        finally:
            run.running = False

    async def stop(self, report_id: int) -> None:
        """Stop a test's bench run, if any."""
        run = self.runs.pop(report_id, None)
        if run and run.task and not run.task.done():
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run.task


def runner_for(app: FastAPI) -> BenchRunner:
    """Answer the app's bench runner, creating it on first use."""
    state = app_state(app)
    runner: BenchRunner | None = state.bench_runner
    if runner is None:
        runner = BenchRunner(app)
        state.bench_runner = runner
    return runner
