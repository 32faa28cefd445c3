"""The rule reference table: items with their records and, computed by hand once from the
published rules (the seeded rule set, plus one manufacturer's stricter rule), what falls due
on each and its readiness on REFERENCE_NOW. Dates are UTC midnights unless said otherwise.

How each expectation was worked out is written next to it, so a reader can check it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REFERENCE_NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

# One manufacturer's rule stricter than the seeded 12 months (stricter wins).
MAKER_RULE: dict[str, Any] = {
    "name": "Maker X gas-tight suit: leak test every 6 months",
    "kind_of_device": "cps_suit",
    "kind_of_test": "yearly",
    "tests_accepted": ["after_use"],
    "interval_months": 6,
    "trigger": "manufacture",
    "source": "manufacturer",
    "source_text": "Maker X suit manual, maintenance table",
}


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Case:
    number: str
    kind: str
    registered: str
    manufactured: str | None = None
    status: str = "active"
    uses: list[str] = field(default_factory=list)
    # (date, kind_of_test, failed)
    tests: list[tuple[str, str, bool]] = field(default_factory=list)
    repairs_done: list[str] = field(default_factory=list)
    repair_open: bool = False
    components: dict[str, str] = field(default_factory=dict)
    # (component, kind_of_test) -> (due date, effect)
    due: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    readiness: str = "ready"
    reason_contains: str = ""


CASES: list[Case] = [
    Case(
        # Mask with a use after its last test, an old valve disc and a younger speech diaphragm.
        number="REF-FFM-A",
        kind="full_face_mask",
        registered="2020-04-01",
        manufactured="2020-03-10",
        uses=["2026-02-05"],
        tests=[("2026-01-20", "yearly", False)],
        components={"exhalation_valve_disc": "2022-05-01", "speech_diaphragm": "2021-03-10"},
        due={
            # first use after the last accepted test (yearly counts for after_use)
            ("", "after_use"): ("2026-02-05", "test"),
            # last accepted test 2026-01-20 + 6 months
            ("", "half_yearly"): ("2026-07-20", "test"),
            # fitted 2022-05-01 + 48 months
            ("exhalation_valve_disc", "replacement"): ("2026-05-01", "block"),
            # fitted 2021-03-10 + 72 months
            ("speech_diaphragm", "replacement"): ("2027-03-10", "block"),
            # manufactured 2020-03-10 + 120 months
            ("", "end_of_life"): ("2030-03-10", "block"),
        },
        readiness="blocked",
        reason_contains="exhalation_valve_disc",
    ),
    Case(
        # Lung-demand valve: half-yearly from a 31 August test clamps to 28 February.
        number="REF-LDV-B",
        kind="lung_demand_valve",
        registered="2019-09-15",
        manufactured="2019-08-31",
        tests=[("2025-08-31", "half_yearly", False)],
        components={"ldv_membrane": "2020-08-31"},
        due={
            # 2025-08-31 + 6 months = 2026-02-31 -> clamped to 2026-02-28
            ("", "half_yearly"): ("2026-02-28", "test"),
            # membrane fitted 2020-08-31 + 72 months
            ("ldv_membrane", "replacement"): ("2026-08-31", "block"),
            # never overhauled: manufacture 2019-08-31 + 72 months
            ("", "overhaul"): ("2025-08-31", "test"),
        },
        readiness="test_required",
        reason_contains="overhaul",
    ),
    Case(
        # Composite cylinder past its 15-year life although its hydrostatic test is valid.
        number="REF-CYL-C",
        kind="composite_cylinder",
        registered="2011-02-10",
        manufactured="2011-01-31",
        tests=[("2023-02-15", "hydrostatic", False)],
        due={
            # last hydrostatic test 2023-02-15 + 60 months
            ("", "hydrostatic"): ("2028-02-15", "test"),
            # manufactured 2011-01-31 + 180 months
            ("", "end_of_life"): ("2026-01-31", "block"),
        },
        readiness="blocked",
        reason_contains="life limit 180 months",
    ),
    Case(
        # SCBA set, manufacture date unknown: periodic rules count from registration, no life.
        number="REF-SCBA-D",
        kind="scba_set",
        registered="2025-01-10",
        uses=["2026-06-01"],
        tests=[("2025-12-01", "yearly", False)],
        due={
            # use 2026-06-01 after the last accepted test (yearly)
            ("", "after_use"): ("2026-06-01", "test"),
            # yearly is accepted: 2025-12-01 + 6 months
            ("", "half_yearly"): ("2026-06-01", "test"),
            # NFPA 1852 annual: 2025-12-01 + 12 months
            ("", "yearly"): ("2026-12-01", "test"),
        },
        readiness="test_required",
        reason_contains="due since 2026-06-01",
    ),
    Case(
        # Suit repaired after its last test; the manufacturer's 6 months beat the 12 months.
        number="REF-CPS-E",
        kind="cps_suit",
        registered="2022-05-02",
        manufactured="2022-04-30",
        tests=[("2025-10-31", "yearly", False)],
        repairs_done=["2026-01-15"],
        due={
            # stricter wins: 2025-10-31 + 6 = 2026-04-31 -> 2026-04-30 (not + 12 = 2026-10-31)
            ("", "yearly"): ("2026-04-30", "test"),
            # first repair after the last accepted test, + 0 months
            ("", "after_repair"): ("2026-01-15", "test"),
        },
        readiness="test_required",
        reason_contains="is done",
    ),
    Case(
        number="REF-FFM-F",
        kind="full_face_mask",
        registered="2018-01-01",
        manufactured="2010-01-01",
        status="decommissioned",
        due={
            ("", "half_yearly"): ("2010-07-01", "test"),
            ("", "end_of_life"): ("2020-01-01", "block"),
        },
        readiness="decommissioned",
    ),
    Case(
        # In repair: the open order decides, the valid tests do not matter.
        number="REF-FFM-G",
        kind="full_face_mask",
        registered="2024-01-05",
        manufactured="2024-01-01",
        tests=[("2026-03-01", "yearly", False)],
        repair_open=True,
        due={
            ("", "half_yearly"): ("2026-09-01", "test"),
            ("", "end_of_life"): ("2034-01-01", "block"),
        },
        readiness="in_repair",
    ),
    Case(
        # Last test failed after an earlier pass: test required; dates count from the pass.
        number="REF-FFM-H",
        kind="full_face_mask",
        registered="2023-07-01",
        manufactured="2023-06-15",
        tests=[("2026-05-01", "yearly", False), ("2026-06-01", "yearly", True)],
        due={
            ("", "half_yearly"): ("2026-11-01", "test"),
            ("", "end_of_life"): ("2033-06-15", "block"),
        },
        readiness="test_required",
        reason_contains="failed",
    ),
    Case(
        # All in order: ready.
        number="REF-FFM-I",
        kind="full_face_mask",
        registered="2025-01-01",
        manufactured="2024-12-31",
        uses=["2026-03-01"],
        tests=[("2026-03-02", "after_use", False)],
        due={
            # the after_use test counts for the half-yearly: 2026-03-02 + 6
            ("", "half_yearly"): ("2026-09-02", "test"),
            ("", "end_of_life"): ("2034-12-31", "block"),
        },
        readiness="ready",
    ),
]
