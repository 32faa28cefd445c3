"""The protocol's words: the due-date sentence gives the true reason, texts come from the
bundle, and without the Unicode font Polish still prints (without diacritics)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fleet.config.translations import static_bundle
from fleet.runs import pdf
from tests.runs.pdftext import pdf_text

EN = pdf.Texts(static_bundle("en"), "en")
PL = pdf.Texts({**static_bundle("en"), **static_bundle("pl")}, "pl")


@pytest.mark.parametrize(
    ("due", "english", "polish"),
    [
        (
            {"kind": "set", "at": "2027-11-30T10:00:00+00:00", "months": 12},
            "Next test due: 2027-11-30 (12 months after this test)",
            "Następny test do: 30.11.2027 (12 mies. po tym teście)",
        ),
        (
            {"kind": "superseded", "at": "2028-01-02T10:00:00+00:00", "report_id": 9},
            "Next test due: 2028-01-02, set by the later report #9",
            "Następny test do: 02.01.2028, wyznaczony przez późniejszy protokół nr 9",
        ),
        ({"kind": "failed"}, "the mask failed this test", "maska nie przeszła testu"),
        ({"kind": "aborted"}, "unchanged - the test was aborted", "test przerwano"),
        ({"kind": "no_device"}, "the report names no device", "nie wskazuje urządzenia"),
    ],
)
def test_due_sentence_gives_the_true_reason(
    due: dict[str, Any], english: str, polish: str
) -> None:
    assert english in pdf.due_sentence(due, EN)
    assert polish in pdf.due_sentence(due, PL)


def _info(language: str, texts: dict[str, str]) -> dict[str, Any]:
    return {
        "report": {
            "id": 5,
            "status": "completed",
            "start_time": datetime(2026, 1, 2, 10, tzinfo=UTC),
            "end_time": datetime(2026, 1, 2, 10, 7, tzinfo=UTC),
            "results": {"verdict": "passed", "steps": []},
            "pressure_data": None,
        },
        "customer": "Straż Pożarna Łódź",
        "device": "FFM-1",
        "operator": "op",
        "sha256": "a" * 64,
        "due": {"kind": "set", "at": "2027-01-02T10:07:00+00:00", "months": 12},
        "printed_at": datetime(2026, 1, 3, tzinfo=UTC),
        "language": language,
        "texts": texts,
    }


def test_polish_prints_with_and_without_the_unicode_font(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = {**static_bundle("en"), **static_bundle("pl")}
    with_font = pdf_text(pdf.render(_info("pl", texts)))
    assert "Straż Pożarna Łódź" in with_font and "Werdykt: ZALICZONY" in with_font
    monkeypatch.setattr(pdf, "FONT_DIRS", ())
    without = pdf_text(pdf.render(_info("pl", texts)))
    assert "Straz Pozarna Lodz" in without and "Werdykt: ZALICZONY" in without
