"""A whole test run on the simulated bench, without a request: the demo's past reports carry
real pressure traces and evaluations, exactly as a run through the API would record them."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from fleet.runs import bench, criteria, reports
from fleet.runs.samples import empty_pressure_data
from fleet.scenarios import flow as flowlib
from fleet.scenarios.flow import SIGNALS


def run(
    test_flow: dict[str, Any],
    header: dict[str, Any],
    *,
    operator_id: int | None,
    started: datetime,
    profile: str,
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any], datetime]:
    """Run every step of a flow with the bench's ``profile``; answers the report's ``results``
    (with ``header``: scenario, device, operator), its ``pressure_data`` and the end time.
    Operator steps pass; a failed required step ends the run unless the flow continues."""
    flow = flowlib.normalise(copy.deepcopy(test_flow or {}))
    steps = flowlib.steps_of(flow)
    states = [reports.step_state(s) for s in steps]
    pressure = empty_pressure_data()
    moment = started
    for index, (step, state) in enumerate(zip(steps, states, strict=True)):
        crit = state["criteria"] or {"type": "boolean"}
        moment += timedelta(seconds=20)
        if state["auto_test"] and crit.get("type") != "boolean":
            samples = bench.generate(step, steps, profile, seed=seed * 100 + index)
            block: dict[str, Any] = {
                "source": "bench",
                "received_at": moment.isoformat(),
                "t": [s["t"] for s in samples],
            }
            for signal in SIGNALS:
                block[signal] = [s.get(signal) for s in samples]
            pressure["steps"][str(state["step_order"])] = block
            evaluation = criteria.evaluate(
                crit,
                criteria.StepSamples(t=block["t"], signals={s: block[s] for s in SIGNALS}),
                None,
                None,
            ).as_dict()
            if samples:
                moment += timedelta(seconds=float(samples[-1]["t"]))
        else:
            evaluation = criteria.evaluate(
                {"type": "boolean"}, criteria.StepSamples(), None, "passed"
            ).as_dict()
        state.update(
            result=evaluation["result"],
            evaluation=evaluation,
            recorded_at=moment.isoformat(),
            recorded_by=operator_id,
        )
        failed = evaluation["result"] == "failed" and state["required"]
        if failed and not flow.get("continue_on_failure"):
            break
    recorded = [s for s in states if s["result"] is not None]
    if any(s["result"] == "failed" and s["required"] for s in recorded):
        verdict = "failed"
    elif any(s["result"] in ("warning", "failed") for s in recorded):
        verdict = "warning"
    else:
        verdict = "passed"
    results = {
        **header,
        "flow": flow,
        "continue_on_failure": bool(flow.get("continue_on_failure")),
        "current_step": None,
        "steps": states,
        "verdict": verdict,
    }
    if verdict == "failed" and len(recorded) < len(states):
        failed_at = next(s["step_order"] for s in recorded if s["result"] == "failed")
        results["ended_because"] = f"required step {failed_at} failed"
    return results, pressure, moment + timedelta(seconds=30)
