"""Workshop reasons are codes with parameters: the API keeps its English sentence, the bundles
hold the same sentence per code (English and Polish), and stored reasons read back."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fleet.workshop import engine, reasons
from fleet.workshop.reasons import Reason

BUNDLES = Path(__file__).resolve().parents[2] / "src" / "fleet" / "web" / "static" / "i18n"
EN = json.loads((BUNDLES / "en.json").read_text(encoding="utf-8"))
PL = json.loads((BUNDLES / "pl.json").read_text(encoding="utf-8"))

INTERVAL = {
    "component": "exhalation_valve_disc",
    "kind_of_test": "overhaul",
    "months": 48,
    "counted": "fitting",
    "anchor": "2022-03-01",
    "source": "regulation",
    "source_text": "change the disc, 4 years",
}
CASES: list[tuple[Reason, str]] = [
    (
        Reason("interval", INTERVAL),
        "exhalation_valve_disc overhaul every 48 months from fitting 2022-03-01 "
        "(regulation: change the disc, 4 years)",
    ),
    (
        Reason("interval", {**INTERVAL, "component": "", "months": None, "counted": "use",
                            "kind_of_test": "after_use"}),
        "after_use after each use from use 2022-03-01 (regulation: change the disc, 4 years)",
    ),
    (
        Reason("interval", {**INTERVAL, "component": "", "counted": "last_passed"}),
        "overhaul every 48 months from last passed test 2022-03-01 "
        "(regulation: change the disc, 4 years)",
    ),
    (
        Reason("life_limit", {**INTERVAL, "component": "", "months": 180,
                              "counted": "manufacture"}),
        "item life limit 180 months from manufacture 2022-03-01 "
        "(regulation: change the disc, 4 years)",
    ),
    (
        Reason("part_life", {"part_number": "FLT-1", "months": 1, "anchor": "2024-01-02"}),
        "part FLT-1 life 1 months from fitting 2024-01-02",
    ),
    (Reason("decommissioned"), "the item is decommissioned"),
    (Reason("in_repair", {"order": 7}), "repair order 7 is open"),
    (
        Reason("repair_done", {"order": 7}),
        "repair order 7 is done; a passed test after it releases the item",
    ),
    (Reason("test_failed", {"report": 12}), "test 12 failed"),
    (
        Reason("blocked", {"since": "2026-01-01", "due": Reason("part_life", {
            "part_number": "FLT-1", "months": 1, "anchor": "2025-12-01"}).as_dict()}),
        "overdue since 2026-01-01: part FLT-1 life 1 months from fitting 2025-12-01",
    ),
    (
        Reason("test_due", {"since": "2026-06-01", "due": Reason("interval", INTERVAL).as_dict()}),
        "due since 2026-06-01: exhalation_valve_disc overhaul every 48 months from fitting "
        "2022-03-01 (regulation: change the disc, 4 years)",
    ),
]


def _from_bundle(bundle: dict[str, str], reason: Reason) -> str:
    """What the page script (readiness.js reasonText) makes of a reason with this bundle."""
    p: dict[str, Any] = dict(reason.params)
    key = reason.code
    if key == "interval" and p.get("months") is None:
        key = "interval_each_use"
    if reason.code == "interval":
        p["what"] = f"{p['component']} " if p.get("component") else ""
    if reason.code == "life_limit":
        p["what"] = p.get("component") or bundle["fwm.reason_item"]
    if "counted" in p:
        p["counted"] = bundle[f"fwm.counted_{p['counted']}"]
    if "source" in p:
        p["source"] = bundle[f"fwm.source_{p['source']}"]
    if "due" in p:
        p["due"] = _from_bundle(bundle, reasons.load(json.dumps(p["due"])))
    return re.sub(r"\{(\w+)\}", lambda m: str(p[m.group(1)]), bundle[f"fwm.reason_{key}"])


@pytest.mark.parametrize(("reason", "text"), CASES, ids=[c[0].code for c in CASES])
def test_codes_keep_the_english_sentence_and_translate(reason: Reason, text: str) -> None:
    assert reason.english() == text
    assert _from_bundle(EN, reason) == text
    polish = _from_bundle(PL, reason)
    assert polish != text and "{" not in polish


def test_stored_reasons_read_back() -> None:
    reason = Reason("interval", INTERVAL)
    assert reasons.load(reason.dump()) == reason
    legacy = reasons.load("an English sentence of an older version")
    assert legacy == Reason("text", {"text": "an English sentence of an older version"})
    assert legacy.english() == "an English sentence of an older version"
    assert reasons.load('["not", "a reason"]').code == "text"


def test_readiness_answers_a_code() -> None:
    now = datetime(2026, 6, 2, tzinfo=UTC)
    due = Reason("part_life", {"part_number": "FLT-1", "months": 1, "anchor": "2026-05-01"})
    state = engine.readiness(
        status="active",
        repairs=engine.RepairState(None, None, None),
        last_test=None,
        last_passed_at=None,
        due=[(datetime(2026, 6, 1, tzinfo=UTC), "block", due)],
        now=now,
    )
    assert state.readiness == "blocked" and state.cause is not None
    assert state.cause.code == "blocked"
    assert state.cause.params == {"since": "2026-06-01", "due": due.as_dict()}
    assert state.blocked_reason == state.reason == (
        "overdue since 2026-06-01: part FLT-1 life 1 months from fitting 2026-05-01"
    )
