"""Every criteria type on crafted sample series, including the edges: exactly at the limit,
no samples, NaN, timeout, marginal band."""

from __future__ import annotations

import math

import pytest

from fleet.runs.criteria import PLUGINS, StepSamples, evaluate, grade
from fleet.scenarios.flow import CRITERIA_TYPES


def series(values: list[float], dt: float = 1.0, signal: str = "pressure_low") -> StepSamples:
    return StepSamples(t=[i * dt for i in range(len(values))], signals={signal: list(values)})


def test_every_criteria_type_has_a_plugin() -> None:
    assert set(PLUGINS) == set(CRITERIA_TYPES)


def test_grade_is_inclusive_and_marginal() -> None:
    assert grade(0.0, None) == "passed"
    assert grade(0.1, None) == "failed"
    assert grade(0.1, 0.2) == "warning"
    assert grade(0.2, 0.2) == "warning"
    assert grade(0.21, 0.2) == "failed"


def test_boolean_follows_the_operator() -> None:
    assert evaluate({"type": "boolean"}, operator_result="passed").result == "passed"
    assert evaluate({"type": "boolean"}, operator_result="warning").result == "warning"
    ev = evaluate({"type": "boolean"})
    assert ev.result == "failed" and "not confirmed" in (ev.reason or "")


RANGE = {"type": "range", "signal": "flow", "min": 9.5, "max": 10.5}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([10.0, 10.1, 9.9], "passed"),
        ([10.5, 10.5], "passed"),
        ([9.5], "passed"),
        ([10.6], "failed"),
        ([9.0], "failed"),
    ],
)
def test_range_on_the_mean(values: list[float], expected: str) -> None:
    ev = evaluate(RANGE, series(values, signal="flow"))
    assert ev.result == expected
    assert ev.limits == {"signal": "flow", "min": 9.5, "max": 10.5}
    assert ev.measured["value"] == pytest.approx(sum(values) / len(values))


def test_range_marginal_measurement_and_statistic() -> None:
    crit = {**RANGE, "marginal": 0.3}
    assert evaluate(crit, measurements={"flow": 10.7}).result == "warning"
    assert evaluate(crit, measurements={"flow": 10.81}).result == "failed"
    assert evaluate(crit, measurements={"flow": 10.0}).measured["source"] == "measurement"
    peak = {"type": "range", "signal": "pressure_low", "statistic": "max", "min": 2, "max": 6}
    assert evaluate(peak, series([0, 1, 4.2, 3.9])).measured["value"] == 4.2
    assert (
        evaluate({"type": "range", "signal": "flow", "max": 1}, series([0.5], signal="flow")).result
        == "passed"
    )


def test_range_no_samples_and_nan() -> None:
    assert evaluate(RANGE, StepSamples()).result == "failed"
    assert "no samples" in (evaluate(RANGE, StepSamples()).reason or "")
    only_nan = series([math.nan, math.nan], signal="flow")
    assert evaluate(RANGE, only_nan).result == "failed"
    mixed = series([10.0, math.nan, 10.2, math.inf], signal="flow")
    ev = evaluate(RANGE, mixed)
    assert ev.result == "passed" and ev.measured["samples"] == 2
    assert evaluate(RANGE, measurements={"flow": math.nan}).result == "failed"


TARGET = {
    "type": "target_tolerance",
    "signal": "pressure_low",
    "target": -14,
    "tolerance": 0.5,
    "within_s": 30,
}


def test_target_reached_in_time() -> None:
    values = [-14 * (1 - math.exp(-t / 3)) for t in range(40)]
    ev = evaluate(TARGET, series(values))
    assert ev.result == "passed"
    assert ev.measured["reached_after_s"] == pytest.approx(10.0)


def test_target_exactly_at_band_edge_and_at_timeout() -> None:
    assert evaluate(TARGET, series([0, -5, -13.5])).result == "passed"
    at_deadline = series([0.0] * 30 + [-14.0])  # t = 30 s exactly
    assert evaluate(TARGET, at_deadline).result == "passed"
    too_late = series([0.0] * 31 + [-14.0])  # t = 31 s
    ev = evaluate(TARGET, too_late)
    assert ev.result == "failed" and "within 30 s" in (ev.reason or "")


def test_target_marginal_and_never_reached() -> None:
    crit = {**TARGET, "marginal": 0.3}
    assert evaluate(crit, series([0, -10, -13.3, -13.3])).result == "warning"
    ev = evaluate(crit, series([0, -10, -12, -12]))
    assert ev.result == "failed" and ev.measured["value"] == -12
    assert evaluate(TARGET, StepSamples()).result == "failed"
    assert evaluate(TARGET, measurements={"pressure_low": -14.4}).result == "passed"


LOSS = {"type": "max_loss_percent", "signal": "pressure_low", "max_percent": 10, "hold_s": 60}


def _hold(start: float, end: float, seconds: int = 60, hz: int = 50) -> StepSamples:
    n = seconds * hz + 1
    return series([start + (end - start) * i / (n - 1) for i in range(n)], dt=1 / hz)


def test_loss_percent_pass_limit_fail() -> None:
    assert evaluate(LOSS, _hold(-14, -13.3)).result == "passed"  # 5 %
    exact = evaluate(LOSS, _hold(-10, -9))  # exactly 10 %
    assert exact.result == "passed" and exact.measured["loss_percent"] == pytest.approx(10)
    assert evaluate(LOSS, _hold(-10, -8.9)).result == "failed"
    assert evaluate({**LOSS, "marginal": 2}, _hold(-10, -8.9)).result == "warning"


def test_loss_percent_window_and_incomplete_hold() -> None:
    long = _hold(-14, -7, seconds=120)  # the loss after 60 s is half of the whole
    ev = evaluate(LOSS, long)
    assert ev.measured["loss_percent"] == pytest.approx(25, abs=0.1)
    short = evaluate(LOSS, _hold(-14, -13.9, seconds=30))
    assert short.result == "failed" and "hold lasted" in (short.reason or "")
    assert evaluate(LOSS, series([0.0] * 61)).result == "failed"  # start at zero
    assert evaluate(LOSS, series([-14.0])).result == "failed"
    assert evaluate(LOSS, measurements={"loss_percent": 3}).result == "passed"


RATE = {"type": "max_loss_rate", "signal": "pressure_low", "max_per_min": 1.0}


def test_loss_rate() -> None:
    ok = evaluate(RATE, _hold(-10, -9.5))  # 0.5 mbar/min
    assert ok.result == "passed" and ok.measured["loss_per_min"] == pytest.approx(0.5)
    assert evaluate(RATE, _hold(-10, -9.0)).result == "passed"  # exactly 1 mbar/min
    assert evaluate(RATE, _hold(-10, -8.8)).result == "failed"
    assert evaluate({**RATE, "marginal": 0.3}, _hold(-10, -8.8)).result == "warning"
    assert evaluate(RATE, series([-10.0, -10.0], dt=0)).result == "failed"
    assert evaluate({**RATE, "hold_s": 60}, _hold(-10, -9.9, seconds=20)).result == "failed"


SETTLED = {"type": "settled", "signal": "pressure_low", "band": 0.2, "for_s": 5}


def test_settled() -> None:
    wobbly_then_flat = [-14 + 2 * math.sin(i) * math.exp(-i / 20) for i in range(30)] + [
        -14.0 + 0.05 * (i % 2) for i in range(60)
    ]
    ev = evaluate(SETTLED, series(wobbly_then_flat, dt=0.1))
    assert ev.result == "passed" and ev.measured["settled_at_s"] is not None
    exactly = series([-14.0, -14.2] * 40, dt=0.1)  # spread exactly 0.2
    assert evaluate(SETTLED, exactly).result == "passed"
    noisy = series([-14.0, -14.5] * 40, dt=0.1)
    assert evaluate(SETTLED, noisy).result == "failed"
    assert evaluate({**SETTLED, "marginal": 0.3}, noisy).result == "warning"
    too_short = evaluate(SETTLED, series([-14.0] * 20, dt=0.1))
    assert too_short.result == "failed" and "less than" in (too_short.reason or "")
    assert evaluate(SETTLED, StepSamples()).result == "failed"


def test_unknown_type_fails_cleanly() -> None:
    ev = evaluate({"type": "vibes"})
    assert ev.result == "failed" and "unknown" in (ev.reason or "")


def test_unsorted_samples_are_read_in_time_order() -> None:
    samples = StepSamples(t=[2.0, 0.0, 1.0], signals={"pressure_low": [-14.0, 0.0, -7.0]})
    ts, vs = samples.series("pressure_low")
    assert ts == [0.0, 1.0, 2.0] and vs == [0.0, -7.0, -14.0]
