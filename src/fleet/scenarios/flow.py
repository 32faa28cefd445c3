"""The published ``test_flow`` contract: its JSON Schema, the accepted short form and the checks
a JSON Schema cannot express (consecutive step orders, criteria fields per type)."""

from __future__ import annotations

import copy
import math
from typing import Any

from fleet.validation import SchemaIssue, validate

SIGNALS = ("pressure_low", "pressure_high", "flow")
SIGNAL_UNITS = {"pressure_low": "mbar", "pressure_high": "bar", "flow": "l/min"}

# Actions a step may name; automatic ones read the bench's signals.
ACTIONS: dict[str, dict[str, Any]] = {
    "visual_inspection": {"auto": False, "title": "Visual inspection"},
    "operator_check": {"auto": False, "title": "Operator check"},
    "initialize": {"auto": False, "title": "Initialise"},
    "calibrate": {"auto": False, "title": "Calibrate"},
    "test": {"auto": False, "title": "Test"},
    "evacuate": {"auto": True, "title": "Evacuate"},
    "stabilize": {"auto": True, "title": "Stabilise"},
    "leak_test": {"auto": True, "title": "Leak test"},
    "valve_opening": {"auto": True, "title": "Exhalation valve opening pressure"},
    "flow_test": {"auto": True, "title": "Flow"},
    "measure": {"auto": True, "title": "Measurement"},
}

CRITERIA_TYPES = (
    "boolean",
    "range",
    "target_tolerance",
    "max_loss_percent",
    "max_loss_rate",
    "settled",
)

_NUM = {"type": "number"}
_POS = {"type": "number", "exclusiveMinimum": 0}
_NONNEG = {"type": "number", "minimum": 0}
_SIGNAL = {"enum": list(SIGNALS)}


def _criterion(type_: str, required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"type": {"const": type_}, "marginal": _NONNEG, **props},
        "required": ["type", *required],
        "additionalProperties": False,
    }


CRITERIA_SCHEMAS: dict[str, dict[str, Any]] = {
    "boolean": _criterion("boolean", [], {}),
    "range": _criterion(
        "range",
        ["signal"],
        {
            "signal": _SIGNAL,
            "min": _NUM,
            "max": _NUM,
            "statistic": {"enum": ["mean", "min", "max", "last"]},
        },
    ),
    "target_tolerance": _criterion(
        "target_tolerance",
        ["signal", "target", "tolerance"],
        {"signal": _SIGNAL, "target": _NUM, "tolerance": _NONNEG, "within_s": _POS},
    ),
    "max_loss_percent": _criterion(
        "max_loss_percent",
        ["signal", "max_percent", "hold_s"],
        {"signal": _SIGNAL, "max_percent": _NONNEG, "hold_s": _POS},
    ),
    "max_loss_rate": _criterion(
        "max_loss_rate",
        ["signal", "max_per_min"],
        {"signal": _SIGNAL, "max_per_min": _NONNEG, "hold_s": _POS},
    ),
    "settled": _criterion(
        "settled",
        ["signal", "band", "for_s"],
        {"signal": _SIGNAL, "band": _NONNEG, "for_s": _POS},
    ),
}

STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "step_order": {"type": "integer", "minimum": 1},
        "step_name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": "string", "maxLength": 4000},
        "action": {"enum": list(ACTIONS)},
        "auto_test": {"type": "boolean"},
        "operator_participation": {"type": "boolean"},
        "required": {"type": "boolean"},
        "parameters": {
            "type": "object",
            "properties": {
                "duration_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}
            },
        },
        "criteria": {"type": "object"},
    },
    "required": ["step_order", "step_name", "action", "criteria"],
    "additionalProperties": False,
}

TEST_FLOW_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "/api/v1/scenarios/schema",
    "title": "test_flow",
    "description": "An ordered list of test steps with their pass criteria.",
    "type": "object",
    "properties": {
        "kind_of_test": {"type": "string", "minLength": 1, "maxLength": 100},
        "kind_of_device": {"type": "string", "maxLength": 100},
        "interval_months": {"type": "integer", "minimum": 0, "maximum": 240},
        "continue_on_failure": {"type": "boolean"},
        "maker": {"type": "string", "maxLength": 255},
        "steps": {"type": "array", "minItems": 1, "maxItems": 100, "items": STEP_SCHEMA},
    },
    "required": ["steps"],
    "$defs": {"criteria": CRITERIA_SCHEMAS},
}


def is_short_step(step: Any) -> bool:
    """Tell whether a step is written in the seed's short form ``{"step", "action", "params"}``."""
    return isinstance(step, dict) and "step" in step and "step_order" not in step


def _normalise_step(step: Any) -> Any:
    if not is_short_step(step):
        return step
    action = step.get("action")
    info = ACTIONS.get(action) if isinstance(action, str) else None
    auto = bool(info and info["auto"])
    return {
        "step_order": step.get("step"),
        "step_name": str(info["title"] if info else action),
        "action": action,
        "auto_test": auto,
        "operator_participation": not auto,
        "parameters": step.get("params") if step.get("params") is not None else {},
        "criteria": step.get("criteria") or {"type": "boolean"},
    }


def normalise(flow: Any, *, in_place: bool = False) -> Any:
    """Return the flow in canonical form: short-form steps rewritten, defaults filled in.

    Non-dict input is returned unchanged so that validation reports it. ``in_place`` rewrites
    the given flow itself (for a flow freshly decoded from a row, that nothing else holds).
    """
    if not isinstance(flow, dict):
        return flow
    out = flow if in_place else copy.deepcopy(flow)
    steps = out.get("steps")
    if isinstance(steps, list):
        canon = []
        for raw in steps:
            step = _normalise_step(raw)
            if isinstance(step, dict) and isinstance(step.get("action"), str):
                info = ACTIONS.get(step["action"])
                auto = bool(info and info["auto"])
                step.setdefault("auto_test", auto)
                step.setdefault("operator_participation", not step["auto_test"])
                step.setdefault("required", True)
                step.setdefault("parameters", {})
            canon.append(step)
        out["steps"] = canon
    return out


def _non_finite(value: Any, path: str) -> list[SchemaIssue]:
    if isinstance(value, float) and not math.isfinite(value):
        return [SchemaIssue(path or "/", "numbers must be finite")]
    if isinstance(value, dict):
        return [i for k, v in value.items() for i in _non_finite(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [i for n, v in enumerate(value) for i in _non_finite(v, f"{path}/{n}")]
    return []


def check(flow: Any) -> list[SchemaIssue]:
    """Answer every problem of a (normalised) flow, each with its JSON path."""
    bad_numbers = _non_finite(flow, "")
    if bad_numbers:
        return bad_numbers
    issues = validate(flow, TEST_FLOW_SCHEMA)
    steps = flow.get("steps") if isinstance(flow, dict) else None
    if not isinstance(steps, list):
        return issues
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        base = f"/steps/{index}"
        order = step.get("step_order")
        if isinstance(order, int) and order != index + 1:
            issues.append(
                SchemaIssue(
                    f"{base}/step_order",
                    f"step orders must be 1..{len(steps)} in sequence; "
                    f"expected {index + 1}, got {order}",
                )
            )
        criteria = step.get("criteria")
        if not isinstance(criteria, dict):
            continue
        ctype = criteria.get("type")
        if ctype not in CRITERIA_SCHEMAS:
            issues.append(
                SchemaIssue(
                    f"{base}/criteria/type",
                    f"unknown criteria type {ctype!r}; expected one of {', '.join(CRITERIA_TYPES)}",
                )
            )
            continue
        for sub in validate(criteria, CRITERIA_SCHEMAS[ctype]):
            path = base + "/criteria" + ("" if sub.path == "/" else sub.path)
            issues.append(SchemaIssue(path, sub.message))
        if ctype == "range":
            lo, hi = criteria.get("min"), criteria.get("max")
            if lo is None and hi is None:
                issues.append(SchemaIssue(f"{base}/criteria", "a range needs min, max or both"))
            elif isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
                issues.append(SchemaIssue(f"{base}/criteria/min", "min is greater than max"))
        if ctype != "boolean" and step.get("auto_test") is False:
            issues.append(
                SchemaIssue(
                    f"{base}/auto_test",
                    f"criteria type {ctype!r} evaluates samples; the step must be automatic",
                )
            )
    return sorted(issues, key=lambda i: (i.path, i.message))


def steps_of(flow: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return the canonical steps of a stored flow (stored flows may still be in short form)."""
    return canonical_steps(normalise(flow or {}))


def canonical_steps(canon: Any) -> list[dict[str, Any]]:
    """Return the steps of a flow already in canonical form."""
    steps = canon.get("steps") if isinstance(canon, dict) else None
    return [s for s in steps or [] if isinstance(s, dict)]
