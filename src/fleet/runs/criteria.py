"""Criteria are data; this small engine evaluates them with one plug-in per type.

Every evaluation answers ``passed``, ``warning`` (within the ``marginal`` width beyond a limit)
or ``failed``, with the measured values and the limits used. Limits are inclusive: a value
exactly at the limit passes. Samples are read per signal; non-finite values are ignored (the
API refuses them, this guards direct callers) and a step without usable samples fails.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from statistics import median
from typing import Any

PASSED, WARNING, FAILED = "passed", "warning", "failed"
_EPS = 1e-9


@dataclass
class StepSamples:
    """The samples of one step, column-wise: times in seconds and one list per signal."""

    t: list[float] = field(default_factory=list)
    signals: dict[str, list[float | None]] = field(default_factory=dict)

    def series(self, signal: str) -> tuple[list[float], list[float]]:
        """Answer the finite (time, value) pairs of a signal, in time order."""
        values = self.signals.get(signal) or []
        ts: list[float] = []
        vs: list[float] = []
        for t, v in zip(self.t, values, strict=False):
            if v is None or t is None:
                continue
            if not (math.isfinite(v) and math.isfinite(t)):
                continue
            ts.append(float(t))
            vs.append(float(v))
        if any(b < a for a, b in pairwise(ts)):
            pairs = sorted(zip(ts, vs, strict=True))
            ts, vs = [p[0] for p in pairs], [p[1] for p in pairs]
        return ts, vs


@dataclass
class Evaluation:
    result: str
    type: str
    signal: str | None
    measured: dict[str, Any]
    limits: dict[str, Any]
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Plugin = Callable[[Mapping[str, Any], StepSamples, Mapping[str, Any], str | None], Evaluation]
PLUGINS: dict[str, Plugin] = {}


def plugin(name: str) -> Callable[[Plugin], Plugin]:
    """Register the evaluator of one criteria type."""

    def register(fn: Plugin) -> Plugin:
        PLUGINS[name] = fn
        return fn

    return register


def grade(excess: float, marginal: float | None) -> str:
    """Grade how far a value lies beyond its limit (≤ 0: inside)."""
    if excess <= _EPS:
        return PASSED
    if marginal and excess <= marginal + _EPS:
        return WARNING
    return FAILED


def _limits(criteria: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in criteria.items() if k != "type"}


def _fail(criteria: Mapping[str, Any], reason: str, **measured: Any) -> Evaluation:
    return Evaluation(
        FAILED,
        str(criteria.get("type")),
        criteria.get("signal"),
        measured,
        _limits(criteria),
        reason,
    )


def _measurement(measurements: Mapping[str, Any], key: str) -> float | None:
    value = measurements.get(key)
    if value is None:
        return None
    return float(value)


def _slack(ts: Sequence[float]) -> float:
    """How short of a duration a series may fall: one and a half sample intervals."""
    if len(ts) < 2:
        return 0.0
    return 1.5 * median(b - a for a, b in pairwise(ts))


def _r(value: float) -> float:
    return round(value, 6)


@plugin("boolean")
def _boolean(
    criteria: Mapping[str, Any], _s: StepSamples, _m: Mapping[str, Any], operator: str | None
) -> Evaluation:
    if operator not in (PASSED, FAILED, WARNING):
        return _fail(criteria, "the operator has not confirmed this step")
    return Evaluation(operator, "boolean", None, {"confirmed": operator}, {})


@plugin("range")
def _range(
    criteria: Mapping[str, Any], samples: StepSamples, m: Mapping[str, Any], _o: str | None
) -> Evaluation:
    signal = criteria["signal"]
    stat = criteria.get("statistic", "mean")
    value = _measurement(m, signal)
    source = "measurement"
    count = 0
    if value is None:
        _ts, vs = samples.series(signal)
        count = len(vs)
        if not vs:
            return _fail(criteria, f"no samples of {signal}")
        source = stat
        value = {
            "mean": lambda: math.fsum(vs) / len(vs),
            "min": lambda: min(vs),
            "max": lambda: max(vs),
            "last": lambda: vs[-1],
        }[stat]()
    if not math.isfinite(value):
        return _fail(criteria, "measured value is not finite")
    lo, hi = criteria.get("min"), criteria.get("max")
    excess = max(
        lo - value if lo is not None else -math.inf, value - hi if hi is not None else -math.inf
    )
    result = grade(excess, criteria.get("marginal"))
    reason = None if result == PASSED else f"{signal} {value:.3f} outside [{lo}, {hi}]"
    return Evaluation(
        result,
        "range",
        signal,
        {"value": _r(value), "source": source, "samples": count},
        _limits(criteria),
        reason,
    )


@plugin("target_tolerance")
def _target(
    criteria: Mapping[str, Any], samples: StepSamples, m: Mapping[str, Any], _o: str | None
) -> Evaluation:
    signal, target, tol = criteria["signal"], criteria["target"], criteria["tolerance"]
    marginal = criteria.get("marginal") or 0.0
    within = criteria.get("within_s")
    given = _measurement(m, signal)
    if given is not None:
        if not math.isfinite(given):
            return _fail(criteria, "measured value is not finite")
        result = grade(abs(given - target) - tol, marginal)
        reason = None if result == PASSED else f"{signal} {given:.3f} not within {target} ± {tol}"
        return Evaluation(
            result,
            "target_tolerance",
            signal,
            {"value": _r(given), "source": "measurement"},
            _limits(criteria),
            reason,
        )
    ts, vs = samples.series(signal)
    if not vs:
        return _fail(criteria, f"no samples of {signal}")
    t0 = ts[0]
    reached_pass: tuple[float, float] | None = None
    reached_warn: tuple[float, float] | None = None
    closest = (math.inf, vs[0])
    for t, v in zip(ts, vs, strict=True):
        if within is not None and t - t0 > within + _EPS:
            break
        dist = abs(v - target)
        if dist < closest[0]:
            closest = (dist, v)
        if dist <= tol + _EPS:
            reached_pass = (t - t0, v)
            break
        if reached_warn is None and marginal and dist <= tol + marginal + _EPS:
            reached_warn = (t - t0, v)
    if reached_pass is not None:
        return Evaluation(
            PASSED,
            "target_tolerance",
            signal,
            {"value": _r(reached_pass[1]), "reached_after_s": _r(reached_pass[0])},
            _limits(criteria),
        )
    if reached_warn is not None:
        return Evaluation(
            WARNING,
            "target_tolerance",
            signal,
            {"value": _r(reached_warn[1]), "reached_after_s": _r(reached_warn[0])},
            _limits(criteria),
            f"only reached {target} ± {tol + marginal}",
        )
    when = f" within {within} s" if within is not None else ""
    return _fail(
        criteria,
        f"{signal} did not reach {target} ± {tol}{when}",
        value=_r(closest[1]),
        reached_after_s=None,
    )


def _hold_window(
    ts: list[float], vs: list[float], hold_s: float | None
) -> tuple[list[float], list[float], bool]:
    """Cut a series to its first ``hold_s`` seconds; answers whether the hold was complete."""
    if hold_s is None:
        return ts, vs, True
    end = ts[0] + hold_s + _EPS
    n = next((i for i, t in enumerate(ts) if t > end), len(ts))
    ts, vs = ts[:n], vs[:n]
    return ts, vs, ts[-1] - ts[0] >= hold_s - _slack(ts) - _EPS


def _held_series(
    criteria: Mapping[str, Any], samples: StepSamples, signal: str
) -> tuple[Sequence[float], Sequence[float]] | Evaluation:
    """The samples of ``signal`` inside the hold window, or the failure when there are too few
    or the hold did not last ``hold_s`` (shared by the two loss criteria)."""
    ts, vs = samples.series(signal)
    if len(vs) < 2:
        return _fail(criteria, f"not enough samples of {signal}")
    ts, vs, complete = _hold_window(ts, vs, criteria.get("hold_s"))
    if not complete:
        return _fail(
            criteria,
            f"hold lasted {ts[-1] - ts[0]:.1f} s of {criteria['hold_s']} s",
            held_s=_r(ts[-1] - ts[0]),
        )
    return ts, vs


@plugin("max_loss_percent")
def _loss_percent(
    criteria: Mapping[str, Any], samples: StepSamples, m: Mapping[str, Any], _o: str | None
) -> Evaluation:
    signal, limit = criteria["signal"], criteria["max_percent"]
    given = _measurement(m, "loss_percent")
    measured: dict[str, Any]
    if given is not None:
        if not math.isfinite(given):
            return _fail(criteria, "measured value is not finite")
        loss = abs(given)
        measured = {"loss_percent": _r(loss), "source": "measurement"}
    else:
        held = _held_series(criteria, samples, signal)
        if isinstance(held, Evaluation):
            return held
        ts, vs = held
        first, last = vs[0], vs[-1]
        if abs(first) < _EPS:
            return _fail(
                criteria,
                "start value is zero; a loss percentage is undefined",
                start=first,
                end=last,
            )
        loss = abs(first - last) / abs(first) * 100
        measured = {
            "start": _r(first),
            "end": _r(last),
            "loss_percent": _r(loss),
            "held_s": _r(ts[-1] - ts[0]),
        }
    result = grade(loss - limit, criteria.get("marginal"))
    reason = None if result == PASSED else f"loss {loss:.2f} % exceeds {limit} %"
    return Evaluation(result, "max_loss_percent", signal, measured, _limits(criteria), reason)


def _slope(ts: Sequence[float], vs: Sequence[float]) -> float:
    n = len(ts)
    mt, mv = math.fsum(ts) / n, math.fsum(vs) / n
    num = math.fsum((t - mt) * (v - mv) for t, v in zip(ts, vs, strict=True))
    den = math.fsum((t - mt) ** 2 for t in ts)
    return num / den if den > 0 else math.nan


@plugin("max_loss_rate")
def _loss_rate(
    criteria: Mapping[str, Any], samples: StepSamples, m: Mapping[str, Any], _o: str | None
) -> Evaluation:
    """Loss rate = |least-squares slope| in units per minute (robust to sensor noise)."""
    signal, limit = criteria["signal"], criteria["max_per_min"]
    given = _measurement(m, "loss_per_min")
    measured: dict[str, Any]
    if given is not None:
        if not math.isfinite(given):
            return _fail(criteria, "measured value is not finite")
        rate = abs(given)
        measured = {"loss_per_min": _r(rate), "source": "measurement"}
    else:
        held = _held_series(criteria, samples, signal)
        if isinstance(held, Evaluation):
            return held
        ts, vs = held
        slope = _slope(ts, vs)
        if not math.isfinite(slope):
            return _fail(criteria, "samples span no time; a rate is undefined")
        rate = abs(slope) * 60
        measured = {
            "start": _r(vs[0]),
            "end": _r(vs[-1]),
            "loss_per_min": _r(rate),
            "held_s": _r(ts[-1] - ts[0]),
        }
    result = grade(rate - limit, criteria.get("marginal"))
    reason = None if result == PASSED else f"loss {rate:.3f}/min exceeds {limit}/min"
    return Evaluation(result, "max_loss_rate", signal, measured, _limits(criteria), reason)


def _min_spread(ts: list[float], vs: list[float], for_s: float) -> tuple[float, float | None]:
    """Smallest max-min over windows lasting ``for_s``; answers it and when that window ended."""
    need = for_s - _slack(ts) - _EPS
    hi: deque[int] = deque()
    lo: deque[int] = deque()
    best, best_end = math.inf, None
    left = 0
    for right, v in enumerate(vs):
        while hi and vs[hi[-1]] <= v:
            hi.pop()
        hi.append(right)
        while lo and vs[lo[-1]] >= v:
            lo.pop()
        lo.append(right)
        while left + 1 <= right and ts[right] - ts[left + 1] >= need:
            left += 1
        while hi[0] < left:
            hi.popleft()
        while lo[0] < left:
            lo.popleft()
        if ts[right] - ts[left] >= need:
            spread = vs[hi[0]] - vs[lo[0]]
            if spread < best:
                best, best_end = spread, ts[right] - ts[0]
    return best, best_end


@plugin("settled")
def _settled(
    criteria: Mapping[str, Any], samples: StepSamples, m: Mapping[str, Any], _o: str | None
) -> Evaluation:
    """Passes when some ``for_s`` long stretch stays within ``band`` (max - min)."""
    signal, band, for_s = criteria["signal"], criteria["band"], criteria["for_s"]
    given = _measurement(m, "spread")
    if given is not None:
        if not math.isfinite(given):
            return _fail(criteria, "measured value is not finite")
        spread, end = abs(given), None
    else:
        ts, vs = samples.series(signal)
        if len(vs) < 2:
            return _fail(criteria, f"not enough samples of {signal}")
        spread, end = _min_spread(ts, vs, for_s)
        if end is None:
            return _fail(
                criteria, f"samples last {ts[-1] - ts[0]:.1f} s, less than {for_s} s", spread=None
            )
    result = grade(spread - band, criteria.get("marginal"))
    reason = None if result == PASSED else f"{signal} never stayed within {band} for {for_s} s"
    measured = {"spread": _r(spread), "settled_at_s": None if end is None else _r(end)}
    return Evaluation(result, "settled", signal, measured, _limits(criteria), reason)


def evaluate(
    criteria: Mapping[str, Any],
    samples: StepSamples | None = None,
    measurements: Mapping[str, Any] | None = None,
    operator_result: str | None = None,
) -> Evaluation:
    """Evaluate one criterion on a step's samples, measurements or the operator's confirmation."""
    fn = PLUGINS.get(str(criteria.get("type")))
    if fn is None:
        return _fail(criteria, f"unknown criteria type {criteria.get('type')!r}")
    return fn(criteria, samples or StepSamples(), measurements or {}, operator_result)
