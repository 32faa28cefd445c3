"""The built-in simulated bench: realistic pressure curves for a step, so the whole operator
flow works with no device (demos, browser tests).

Curves follow the step's criteria: evacuation towards the target with sensor noise, a hold with
a small leak, an exhalation valve opening, a steady flow. ``profile`` picks a good mask
(``good``), one just beyond the limit (``marginal``: a warning when the criterion has a marginal
band) or a faulty one (``bad``).
"""

from __future__ import annotations

import math
import random
from typing import Any

from fleet.settings import Settings

PROFILES = ("good", "marginal", "bad")
DEFAULT_RATE_HZ = 10.0
AMBIENT_SUPPLY_BAR = 6.0


def enabled(settings: Settings) -> bool:
    """The bench runs outside production, or in production when FLEET_SIMULATED_BENCH=1."""
    return settings.env != "production" or settings.bench.simulated


def _level(steps: list[dict[str, Any]], order: int) -> float:
    """The pressure the mask was pulled to before this step (the last target, else -14 mbar)."""
    level = -14.0
    for step in steps:
        if step.get("step_order", 0) >= order:
            break
        crit = step.get("criteria") or {}
        if crit.get("type") == "target_tolerance" and crit.get("signal") == "pressure_low":
            level = float(crit["target"])
    return level


def generate(
    step: dict[str, Any],
    steps: list[dict[str, Any]],
    profile: str = "good",
    rate_hz: float = DEFAULT_RATE_HZ,
    seed: int | None = None,
) -> list[dict[str, float]]:
    """Answer one step's samples in the telemetry shape ``{"t", "pressure_low", ...}``."""
    rng = random.Random(seed)  # noqa: S311 - simulated sensor noise, not security
    crit = step.get("criteria") or {}
    ctype = crit.get("type")
    params = step.get("parameters") or {}
    marginal = float(crit.get("marginal") or 0)
    dt = 1.0 / rate_hz
    level = _level(steps, int(step.get("step_order", 1)))
    noise = 0.02

    def over(limit: float) -> float:
        """How far beyond a limit this profile lands."""
        if profile == "good":
            return -0.4 * limit if limit else -0.1
        if profile == "marginal":
            return marginal / 2 if marginal else 0.05 * max(abs(limit), 0.1)
        return 3 * max(abs(limit), marginal, 0.5)

    signal = crit.get("signal", "pressure_low")
    duration = float(params.get("duration_s") or 5.0)
    curve: Any

    if ctype == "target_tolerance":
        target, tol = float(crit["target"]), float(crit["tolerance"])
        within = float(crit.get("within_s") or 30.0)
        stall = target if profile == "good" else target - math.copysign(tol + over(tol), target)
        if profile == "marginal" and not marginal:
            stall = target - math.copysign(tol * 0.8, target)
        tau = min(within, 30.0) / 10
        duration = float(params.get("duration_s") or min(within, 30.0) * 0.8)

        def curve(t: float) -> float:
            return stall * (1 - math.exp(-t / tau))

    elif ctype == "settled":
        band, for_s = float(crit["band"]), float(crit["for_s"])
        amp = band * (0.3 if profile == "good" else 0.5 + (0.3 if profile == "marginal" else 2))
        duration = float(params.get("duration_s") or for_s + 3)
        noise = min(noise, band / 10)

        def curve(t: float) -> float:
            decay = math.exp(-t / 1.5) * band * 2
            return (
                level
                + decay * math.sin(t * 3)
                + amp / 2 * math.sin(t * 0.7 + 1) * (0 if profile == "good" else 1)
            )

    elif ctype in ("max_loss_percent", "max_loss_rate"):
        hold = float(crit.get("hold_s") or params.get("duration_s") or 60.0)
        duration = hold + dt
        if ctype == "max_loss_percent":
            limit = float(crit["max_percent"])
            loss_pct = limit + over(limit)
            per_s = abs(level) * loss_pct / 100 / hold
        else:
            limit = float(crit["max_per_min"])
            per_s = (limit + over(limit)) / 60
        noise = 0.0 if ctype == "max_loss_percent" else 0.01

        def curve(t: float) -> float:
            return level + math.copysign(per_s * t, -level)

    elif ctype == "range":
        lo_raw, hi_raw = crit.get("min"), crit.get("max")
        lo = float(lo_raw) if lo_raw is not None else float(hi_raw or 0) - 1
        hi = float(hi_raw) if hi_raw is not None else lo + 1
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        value = centre if profile == "good" else hi + over(half)
        stat = crit.get("statistic", "mean")
        noise = min(0.02, half / 20) if half else 0.0

        def curve(t: float) -> float:
            if stat == "max":
                return value * min(1.0, t / (duration * 0.6)) - (0.4 if t > duration * 0.6 else 0)
            return value

    else:

        def curve(t: float) -> float:
            return level

    n = max(2, round(duration * rate_hz))
    out = []
    for i in range(n):
        t = i * dt
        reading = curve(t) + (rng.gauss(0, noise) if noise else 0.0)
        sample = {
            "t": round(t, 4),
            "pressure_low": 0.0,
            "pressure_high": AMBIENT_SUPPLY_BAR,
            "flow": 0.0,
        }
        sample[signal] = round(reading, 4)
        if signal != "pressure_high":
            sample["pressure_high"] = round(AMBIENT_SUPPLY_BAR + rng.gauss(0, 0.005), 4)
        out.append(sample)
    return out
