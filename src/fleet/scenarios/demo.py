"""Demo scenarios (``fleet demo``): the yearly full-face mask test, the quick after-use check,
a second maker's -10 mbar test, a ``test_flow`` template, and one simulated test device."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.models import Customer, Device, JsonTemplate, TestScenario, TestStep
from fleet.scenarios import flow as flowlib

DEVICE_TYPE = "mask_tester"
SIMULATED_DEVICE = "SIM-FFM-0001"


def _visual(order: int) -> dict[str, Any]:
    return {
        "step_order": order,
        "step_name": "Visual inspection",
        "description": "Check visor, seals, straps and valves for damage or dirt.",
        "action": "visual_inspection",
        "auto_test": False,
        "operator_participation": True,
        "parameters": {},
        "criteria": {"type": "boolean"},
    }


def _evacuate(order: int, target: float) -> dict[str, Any]:
    return {
        "step_order": order,
        "step_name": f"Evacuate to {target:g} mbar",
        "description": "Fit the mask on the test head; the bench pulls it to negative pressure.",
        "action": "evacuate",
        "auto_test": True,
        "operator_participation": False,
        "parameters": {"duration_s": 20},
        "criteria": {
            "type": "target_tolerance",
            "signal": "pressure_low",
            "target": target,
            "tolerance": 0.5,
            "within_s": 30,
            "marginal": 0.3,
        },
    }


def _final(order: int, name: str) -> dict[str, Any]:
    return {
        "step_order": order,
        "step_name": name,
        "description": "Confirm the mask is reassembled, labelled and ready for use.",
        "action": "operator_check",
        "auto_test": False,
        "operator_participation": True,
        "parameters": {},
        "criteria": {"type": "boolean"},
    }


YEARLY: dict[str, Any] = {
    "kind_of_test": "yearly",
    "kind_of_device": "full_face_mask",
    "interval_months": 12,
    "steps": [
        _visual(1),
        _evacuate(2, -14),
        {
            "step_order": 3,
            "step_name": "Stabilise",
            "description": "Let the pressure settle before the leak test.",
            "action": "stabilize",
            "auto_test": True,
            "operator_participation": False,
            "parameters": {"duration_s": 8},
            "criteria": {
                "type": "settled",
                "signal": "pressure_low",
                "band": 0.3,
                "for_s": 5,
                "marginal": 0.2,
            },
        },
        {
            "step_order": 4,
            "step_name": "Leak test (hold 60 s)",
            "description": "Hold for 60 s; the pressure loss must stay under 10 % of the start.",
            "action": "leak_test",
            "auto_test": True,
            "operator_participation": False,
            "parameters": {},
            "criteria": {
                "type": "max_loss_percent",
                "signal": "pressure_low",
                "max_percent": 10,
                "hold_s": 60,
                "marginal": 2,
            },
        },
        {
            "step_order": 5,
            "step_name": "Exhalation valve opening pressure",
            "description": "Blow through the exhalation valve; it must open within the range.",
            "action": "valve_opening",
            "auto_test": True,
            "operator_participation": False,
            "parameters": {"duration_s": 6},
            "criteria": {
                "type": "range",
                "signal": "pressure_low",
                "statistic": "max",
                "min": 2.0,
                "max": 6.0,
                "marginal": 0.5,
            },
        },
        {
            "step_order": 6,
            "step_name": "Flow",
            "description": "Measure the flow through the inhalation path.",
            "action": "flow_test",
            "auto_test": True,
            "operator_participation": False,
            "parameters": {"duration_s": 6},
            "criteria": {
                "type": "range",
                "signal": "flow",
                "min": 9.5,
                "max": 10.5,
                "marginal": 0.3,
            },
        },
        _final(7, "Reassemble and label"),
    ],
}

AFTER_USE: dict[str, Any] = {
    "kind_of_test": "after_use",
    "kind_of_device": "full_face_mask",
    "interval_months": 4,
    "steps": [
        _visual(1),
        _evacuate(2, -14),
        {
            "step_order": 3,
            "step_name": "Leak test (hold 30 s)",
            "description": "Short hold; the loss must stay under 10 %.",
            "action": "leak_test",
            "auto_test": True,
            "operator_participation": False,
            "parameters": {},
            "criteria": {
                "type": "max_loss_percent",
                "signal": "pressure_low",
                "max_percent": 10,
                "hold_s": 30,
                "marginal": 2,
            },
        },
        _final(4, "Clean, disinfect and pack"),
    ],
}

MAKER_B: dict[str, Any] = {
    "kind_of_test": "yearly",
    "kind_of_device": "full_face_mask",
    "interval_months": 12,
    "maker": "Maker B",
    "steps": [
        _visual(1),
        _evacuate(2, -10),
        {
            "step_order": 3,
            "step_name": "Leak rate (hold 60 s)",
            "description": "Maker B: the mask loses less than 1 mbar per minute at -10 mbar.",
            "action": "leak_test",
            "auto_test": True,
            "operator_participation": False,
            "parameters": {},
            "criteria": {
                "type": "max_loss_rate",
                "signal": "pressure_low",
                "max_per_min": 1.0,
                "hold_s": 60,
                "marginal": 0.2,
            },
        },
        _final(4, "Reassemble and label"),
    ],
}

DEMO_SCENARIOS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Yearly full-face mask test",
        "The yearly test of a full-face mask: inspection, evacuation to -14 mbar, leak test, "
        "exhalation valve and flow.",
        YEARLY,
    ),
    (
        "Quick after-use check",
        "A short check after each use: inspection, evacuation, 30 s leak test, cleaning.",
        AFTER_USE,
    ),
    (
        "Maker B negative pressure test (-10 mbar)",
        "Maker B's criteria: pulled to -10 mbar, loses less than 1 mbar per minute.",
        MAKER_B,
    ),
]

TEMPLATE_NAME = "Mask test flow (starter)"


def seed_scenarios(session: Session) -> int:
    """Create the missing demo scenarios (with their step rows), the flow template and the
    simulated device; answers how many rows were created."""
    created = 0
    existing = set(session.scalars(select(TestScenario.name)))
    for name, description, flow in DEMO_SCENARIOS:
        if name in existing:
            continue
        canon = flowlib.normalise(copy.deepcopy(flow))
        assert not flowlib.check(canon), flowlib.check(canon)
        scenario = TestScenario(
            name=name,
            description=description,
            device_type=DEVICE_TYPE,
            test_flow=canon,
            is_active=True,
        )
        session.add(scenario)
        session.flush()
        for step in flowlib.steps_of(canon):
            session.add(
                TestStep(
                    scenario_id=scenario.id,
                    step_order=step["step_order"],
                    step_name=step["step_name"],
                    description=step.get("description"),
                    parameters={**step.get("parameters", {}), "action": step["action"]},
                    criteria=step["criteria"],
                    auto_test=step["auto_test"],
                    operator_participation=step["operator_participation"],
                )
            )
        created += 1
    if session.scalar(select(JsonTemplate.id).where(JsonTemplate.name == TEMPLATE_NAME)) is None:
        session.add(
            JsonTemplate(
                name=TEMPLATE_NAME,
                template_type="test_flow",
                category=DEVICE_TYPE,
                schema_=flowlib.TEST_FLOW_SCHEMA,
                default_values={
                    "kind_of_test": "yearly",
                    "interval_months": 12,
                    "steps": [_visual(1), _evacuate(2, -14)],
                },
                description="A starting point for a new mask test scenario.",
                is_active=True,
            )
        )
        created += 1
    if session.scalar(select(Device.id).where(Device.device_number == SIMULATED_DEVICE)) is None:
        customer = session.scalar(select(Customer.id).order_by(Customer.id).limit(1))
        session.add(
            Device(
                device_number=SIMULATED_DEVICE,
                device_type=DEVICE_TYPE,
                kind_of_device="full_face_mask",
                serial_number="SIM-0001",
                status="active",
                customer_id=customer,
                configuration={"simulated": True},
            )
        )
        created += 1
    session.flush()
    return created
