"""The one-page test protocol (fpdf2): who, what, when, each step with limits and measured
values in words, the verdict, the pressure chart with its limit bands, the next due date with
its true reason, signature fields for the tester and the date, and the SHA-256 that ties a
printed copy to the database. Every text comes from the UI's translation bundle (``pdf.*`` and
``eval.*`` keys), so the protocol prints in the user's language; a Unicode font (DejaVu Sans)
carries Polish letters, and without it the core font prints them without diacritics."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
)
SIGNALS = {"pressure_low": "Low pressure", "pressure_high": "High pressure", "flow": "Flow"}
STATUS = {
    "passed": "Passed",
    "failed": "Failed",
    "warning": "Passed with remark",
    "skipped": "Skipped",
    "pending": "Pending",
    "aborted": "Aborted",
    "completed": "Completed",
    "in_progress": "In progress",
}


class Texts:
    """The protocol's words: the bundle of the chosen language over English defaults."""

    def __init__(self, bundle: Mapping[str, str] | None = None, language: str = "en") -> None:
        self.bundle = dict(bundle or {})
        self.language = language

    def __call__(self, key: str, default: str, **values: Any) -> str:
        text = self.bundle.get(key) or default
        return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "")), text)

    def status(self, value: Any) -> str:
        key = str(value or "pending")
        return self(f"status.{key}", STATUS.get(key, key.replace("_", " ")))

    def signal(self, value: Any) -> str:
        key = str(value or "")
        return self(f"eval.signal_{key}", SIGNALS.get(key, key))

    def number(self, value: Any, digits: int = 3) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "-" if value is None else str(value)
        text = (
            f"{value:.{digits}f}".rstrip("0").rstrip(".")
            if isinstance(value, float)
            else str(value)
        )
        if text == "-0":
            text = "0"
        return text.replace(".", ",") if self.language == "pl" else text

    def date(self, value: datetime | str | None, with_time: bool = True) -> str:
        if value is None:
            return "-"
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if self.language == "pl":
            return value.strftime("%d.%m.%Y %H:%M UTC" if with_time else "%d.%m.%Y")
        return value.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


CHART_POINTS = 400
_RESULT_COLOURS = {
    "passed": (24, 128, 56),
    "warning": (196, 120, 0),
    "failed": (190, 30, 30),
    "skipped": (110, 110, 110),
}


_UNICODE = False  # set per rendering: True when the Unicode font is loaded


def _t(value: Any) -> str:
    """Text the loaded font can print: all of it with DejaVu, else Latin-1 without diacritics."""
    text = "" if value is None else str(value)
    if _UNICODE:
        return text
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-")
    text = text.replace("\u00b1", "+/-").replace("\u2264", "<=").replace("\u2026", "...")
    text = text.replace("ł", "l").replace("Ł", "L")
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return plain.encode("latin-1", "replace").decode("latin-1")


def limits_text(criteria: dict[str, Any] | None, units: dict[str, str], tx: Texts) -> str:
    """A criterion's pass condition as a sentence (the same words as the UI's)."""
    c = criteria if isinstance(criteria, dict) else {}
    kind = c.get("type")
    if not kind:
        return "-"
    n = tx.number
    v = {
        "signal": tx.signal(c.get("signal")),
        "unit": units.get(str(c.get("signal", "")), ""),
        "statistic": tx(f"eval.stat_{c.get('statistic', 'mean')}", str(c.get("statistic", "mean"))),
        "min": n(c["min"]) if "min" in c else "-\u221e",
        "max": n(c["max"]) if "max" in c else "\u221e",
        "target": n(c.get("target")),
        "tolerance": n(c.get("tolerance")),
        "within": n(c.get("within_s")),
        "percent": n(c.get("max_percent")),
        "hold": n(c.get("hold_s")),
        "rate": n(c.get("max_per_min")),
        "band": n(c.get("band")),
        "for": n(c.get("for_s")),
        "marginal": n(c.get("marginal")),
    }
    texts = {
        "boolean": ("eval.limit_boolean", "The operator confirms the step."),
        "range": ("eval.limit_range", "{signal} ({statistic}) between {min} and {max} {unit}"),
        "target_tolerance": (
            (
                "eval.limit_target_within",
                "{signal} reaches {target} ± {tolerance} {unit} within {within} s",
            )
            if c.get("within_s") is not None
            else ("eval.limit_target", "{signal} reaches {target} ± {tolerance} {unit}")
        ),
        "max_loss_percent": (
            "eval.limit_loss_percent",
            "{signal} loses at most {percent} % over {hold} s",
        ),
        "max_loss_rate": ("eval.limit_loss_rate", "{signal} falls at most {rate} {unit}/min"),
        "settled": ("eval.limit_settled", "{signal} stays within {band} {unit} for {for} s"),
    }
    key, default = texts.get(str(kind), ("", str(kind)))
    text = tx(key, default, **v) if key else default
    if c.get("marginal"):
        text += tx("eval.limit_marginal", " (a warning up to {marginal} beyond)", **v)
    return text


def measured_text(evaluation: dict[str, Any] | None, units: dict[str, str], tx: Texts) -> str:
    """What an evaluation measured, in words."""
    if not evaluation:
        return "-"
    m = evaluation.get("measured") or {}
    unit = units.get(str(evaluation.get("signal") or ""), "")
    n = tx.number
    parts = []
    if m.get("source") == "measurement":
        parts.append(tx("eval.entered", "entered by the operator:"))
    if m.get("confirmed"):
        parts.append(tx("eval.confirmed", "operator: {result}", result=tx.status(m["confirmed"])))
    if m.get("value") is not None:
        parts.append(tx("eval.m_value", "measured {value} {unit}", value=n(m["value"]), unit=unit))
    if m.get("reached_after_s") is not None:
        parts.append(tx("eval.m_reached", "reached after {s} s", s=n(m["reached_after_s"])))
    if m.get("start") is not None and m.get("end") is not None:
        parts.append(
            tx(
                "eval.m_start_end",
                "from {start} to {end} {unit}",
                start=n(m["start"]),
                end=n(m["end"]),
                unit=unit,
            )
        )
    if m.get("loss_percent") is not None:
        parts.append(tx("eval.m_loss_percent", "loss {v} %", v=n(m["loss_percent"])))
    if m.get("loss_per_min") is not None:
        parts.append(
            tx("eval.m_loss_rate", "loss {v} {unit}/min", v=n(m["loss_per_min"]), unit=unit)
        )
    if m.get("spread") is not None:
        parts.append(tx("eval.m_spread", "spread {v} {unit}", v=n(m["spread"]), unit=unit))
    if m.get("held_s") is not None:
        parts.append(tx("eval.m_held", "over {s} s", s=n(m["held_s"])))
    if m.get("samples") is not None:
        parts.append(tx("eval.m_samples", "{count} samples", count=n(m["samples"])))
    return ", ".join(parts) or "-"


def _chart_series(
    results: dict[str, Any], pressure: dict[str, Any]
) -> tuple[list[tuple[float, float]], list[tuple[float, float, float, float]], list[float]]:
    """Concatenate the steps' pressure_low samples on one time axis; answers points, limit
    bands (x0, x1, lo, hi) and the x where each step starts."""
    points: list[tuple[float, float]] = []
    bands: list[tuple[float, float, float, float]] = []
    starts: list[float] = []
    offset = 0.0
    blocks = pressure.get("steps") or {}
    for step in results.get("steps") or []:
        block = blocks.get(str(step["step_order"]))
        if not block or not block.get("t"):
            continue
        ts, vs = block["t"], block.get("pressure_low") or []
        t0 = ts[0]
        starts.append(offset)
        for t, v in zip(ts, vs, strict=False):
            if v is not None:
                points.append((offset + t - t0, v))
        end = offset + ts[-1] - t0
        c = step.get("criteria") or {}
        if c.get("signal") == "pressure_low":
            if c.get("type") == "target_tolerance":
                bands.append(
                    (offset, end, c["target"] - c["tolerance"], c["target"] + c["tolerance"])
                )
            elif c.get("type") == "range" and "min" in c and "max" in c:
                bands.append((offset, end, c["min"], c["max"]))
        offset = end + 1.0
    if len(points) > CHART_POINTS:
        stride = len(points) / CHART_POINTS
        points = [points[int(i * stride)] for i in range(CHART_POINTS)] + [points[-1]]
    return points, bands, starts


def _chart(
    pdf: FPDF,
    x: float,
    y: float,
    w: float,
    h: float,
    results: dict[str, Any],
    pressure: dict[str, Any],
    tx: Texts,
) -> None:
    points, bands, starts = _chart_series(results, pressure)
    pdf.set_draw_color(160, 160, 160)
    pdf.rect(x, y, w, h)
    pdf.set_font(_FONT, "", 7)
    if not points:
        pdf.set_xy(x, y + h / 2 - 3)
        pdf.cell(w, 6, _t(tx("pdf.no_samples", "no pressure samples recorded")), align="C")
        return
    xmax = max(p[0] for p in points) or 1.0
    values = [p[1] for p in points] + [b[2] for b in bands] + [b[3] for b in bands]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad

    def sx(t: float) -> float:
        return x + t / xmax * w

    def sy(v: float) -> float:
        return y + h - (v - lo) / (hi - lo) * h

    pdf.set_fill_color(200, 235, 205)
    for x0, x1, b_lo, b_hi in bands:
        pdf.rect(
            sx(x0), sy(b_hi), max(sx(x1) - sx(x0), 0.3), max(sy(b_lo) - sy(b_hi), 0.3), style="F"
        )
    pdf.set_draw_color(225, 225, 225)
    for s in starts[1:]:
        pdf.line(sx(s), y, sx(s), y + h)
    if lo < 0 < hi:
        pdf.line(x, sy(0), x + w, sy(0))
    pdf.set_draw_color(20, 80, 170)
    pdf.set_line_width(0.3)
    pdf.polyline([(sx(t), sy(v)) for t, v in points])
    pdf.set_line_width(0.2)
    pdf.set_text_color(80, 80, 80)
    pdf.set_xy(x + 1, y + 1)
    pdf.cell(30, 3, _t(f"{tx.number(round(hi, 1))} mbar"))
    pdf.set_xy(x + 1, y + h - 4)
    pdf.cell(30, 3, _t(f"{tx.number(round(lo, 1))} mbar"))
    pdf.set_xy(x + w - 31, y + h - 4)
    pdf.cell(30, 3, f"{xmax:.0f} s", align="R")
    pdf.set_text_color(0, 0, 0)


_FONT = "Helvetica"


def _load_font(pdf: FPDF) -> bool:
    """Load DejaVu Sans (regular and bold) when the system has it."""
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return True
    return False


def due_sentence(due: Mapping[str, Any] | None, tx: Texts) -> str:
    """The next-due line with its true reason."""
    d = due or {}
    kind = d.get("kind")
    if kind == "set":
        return tx(
            "pdf.due_set",
            "Next test due: {date} ({months} months after this test{kind})",
            date=tx.date(d.get("at"), with_time=False),
            months=d.get("months", "-"),
            kind=f", {d['kind_of_test']}" if d.get("kind_of_test") else "",
        )
    if kind == "superseded":
        return tx(
            "pdf.due_superseded",
            "Next test due: {date}, set by the later report #{report}",
            date=tx.date(d.get("at"), with_time=False),
            report=d.get("report_id", "-"),
        )
    if kind == "failed":
        return tx(
            "pdf.due_failed",
            "Next test due: unchanged - the mask failed this test; repair it and test it again",
        )
    if kind == "aborted":
        return tx("pdf.due_aborted", "Next test due: unchanged - the test was aborted")
    if kind == "no_device":
        return tx("pdf.due_no_device", "Next test due: none - the report names no device")
    return tx("pdf.due_unknown", "Next test due: not recorded for this report")


def render(info: dict[str, Any]) -> bytes:
    """Render the protocol. ``info`` holds the report row's fields plus display names:
    ``report`` (id, status, start/end, results, pressure_data), ``customer``, ``device``,
    ``operator``, ``sha256``, ``due`` (kind and date of the next test), and optionally
    ``texts`` (the bundle of the user's language) and ``language``."""
    global _UNICODE, _FONT
    tx = Texts(info.get("texts"), info.get("language") or "en")
    report = info["report"]
    results: dict[str, Any] = report["results"] if isinstance(report["results"], dict) else {}
    raw_pressure = report["pressure_data"]
    pressure: dict[str, Any] = raw_pressure if isinstance(raw_pressure, dict) else {}
    units = pressure.get("units") or {
        "pressure_low": "mbar",
        "pressure_high": "bar",
        "flow": "l/min",
    }
    scenario = results.get("scenario") or {}
    verdict = results.get("verdict") or report["status"]

    pdf = FPDF(format="A4", unit="mm")
    _UNICODE = _load_font(pdf)
    _FONT = "DejaVu" if _UNICODE else "Helvetica"
    pdf.set_compression(True)
    pdf.set_auto_page_break(False)
    pdf.set_margins(12, 10, 12)
    pdf.set_title(_t(tx("pdf.doc_title", "Test report {id}", id=report["id"])))
    pdf.set_creator("Fleet Management System")
    pdf.set_lang(tx.language)
    pdf.add_page()
    pdf.set_font(_FONT, "B", 14)
    pdf.cell(124, 8, _t(tx("pdf.title", "Mask test protocol - report #{id}", id=report["id"])))
    colour = _RESULT_COLOURS.get(str(verdict), (0, 0, 0))
    pdf.set_text_color(*colour)
    pdf.cell(
        62,
        8,
        _t(f"{tx('pdf.verdict', 'Verdict')}: {tx.status(verdict).upper()}"),
        align="R",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(0, 0, 0)

    rows = [
        (
            tx("pdf.customer", "Customer"),
            info.get("customer") or "-",
            tx("pdf.operator", "Operator"),
            info.get("operator") or "-",
        ),
        (
            tx("pdf.device", "Device"),
            info.get("device") or "-",
            tx("pdf.status", "Status"),
            tx.status(report["status"]),
        ),
        (
            tx("pdf.scenario", "Scenario"),
            scenario.get("name") or info.get("scenario") or "-",
            tx("pdf.kind_of_test", "Kind of test"),
            str(scenario.get("kind_of_test") or "-").replace("_", " "),
        ),
        (
            tx("pdf.started", "Started"),
            tx.date(report["start_time"]),
            tx("pdf.ended", "Ended"),
            tx.date(report["end_time"]),
        ),
    ]
    for k1, v1, k2, v2 in rows:
        pdf.set_font(_FONT, "B", 8.5)
        pdf.cell(26, 5.5, _t(k1))
        pdf.set_font(_FONT, "", 8.5)
        pdf.cell(70, 5.5, _t(v1)[:48])
        pdf.set_font(_FONT, "B", 8.5)
        pdf.cell(26, 5.5, _t(k2))
        pdf.set_font(_FONT, "", 8.5)
        pdf.cell(64, 5.5, _t(v2)[:44], new_x="LMARGIN", new_y="NEXT")
    abort = results.get("abort")
    if abort:
        pdf.set_font(_FONT, "B", 8.5)
        pdf.cell(
            0,
            5.5,
            _t(f"{tx('pdf.aborted', 'Aborted')}: {abort.get('reason')}")[:110],
            new_x="LMARGIN",
            new_y="NEXT",
        )
    elif results.get("ended_because"):
        pdf.cell(
            0,
            5.5,
            _t(f"{tx('pdf.ended_early', 'Ended early')}: {results['ended_because']}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )

    pdf.ln(2)
    steps = results.get("steps") or []
    pdf.set_font(_FONT, "", 7 if len(steps) <= 10 else 5.5)
    with pdf.table(
        col_widths=(7, 40, 66, 55, 18),
        line_height=3.5 if len(steps) <= 10 else 2.7,
        text_align="LEFT",
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 238, 242)),
        borders_layout="HORIZONTAL_LINES",
        padding=0.8,
    ) as table:
        table.row(
            [
                "#",
                _t(tx("pdf.col_step", "Step")),
                _t(tx("pdf.col_limits", "Limits")),
                _t(tx("pdf.col_measured", "Measured")),
                _t(tx("pdf.col_result", "Result")),
            ]
        )
        for step in steps:
            result = str(step.get("result") or step.get("status") or "pending")
            row = table.row()
            row.cell(str(step.get("step_order", "")))
            row.cell(_t(step.get("step_name"))[:80])
            row.cell(_t(limits_text(step.get("criteria"), units, tx)))
            row.cell(_t(measured_text(step.get("evaluation"), units, tx))[:160])
            colour = _RESULT_COLOURS.get(result, (0, 0, 0))
            row.cell(_t(tx.status(result)), style=FontFace(color=colour, emphasis="BOLD"))

    pdf.ln(3)
    pdf.set_font(_FONT, "B", 8.5)
    pdf.cell(
        0,
        5,
        _t(tx("pdf.chart_title", "Low pressure (mbar) over time; green: limit bands")),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    top = pdf.get_y() + 1
    chart_h = min(70.0, 238 - top)
    _chart(pdf, 12, top, 186, chart_h, results, pressure, tx)
    pdf.set_y(top + chart_h + 3)

    pdf.set_font(_FONT, "B", 9.5)
    pdf.multi_cell(0, 5, _t(due_sentence(info.get("due"), tx)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "", 7.5)
    pdf.cell(
        0,
        4.5,
        _t(
            tx(
                "pdf.sha_hint",
                "SHA-256 of the report's canonical content (check it in the report browser "
                "or at GET /api/v1/reports/verify?sha256=...):",
            )
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Courier", "B", 8.5)
    pdf.cell(0, 5, _t(info.get("sha256") or "-"), new_x="LMARGIN", new_y="NEXT")

    # signature fields, as on paper protocols
    pdf.ln(6)
    y = pdf.get_y()
    pdf.set_draw_color(120, 120, 120)
    pdf.set_font(_FONT, "", 8)
    fields = [
        (12, 70, tx("pdf.sign_tester", "Tester (name)"), info.get("operator") or ""),
        (88, 60, tx("pdf.sign_signature", "Signature"), ""),
        (154, 44, tx("pdf.sign_date", "Date"), ""),
    ]
    for fx, fw, label, prefill in fields:
        if prefill:
            pdf.set_xy(fx, y + 3)
            pdf.cell(fw, 5, _t(prefill))
        pdf.line(fx, y + 9, fx + fw, y + 9)
        pdf.set_xy(fx, y + 9.5)
        pdf.cell(fw, 4, _t(label))

    pdf.set_font(_FONT, "", 7)
    pdf.set_y(-14)
    pdf.cell(
        0,
        4,
        _t(
            tx(
                "pdf.printed",
                "Printed {date} - Fleet Management System",
                date=tx.date(info["printed_at"]),
            )
        ),
        align="C",
    )
    return bytes(pdf.output())
