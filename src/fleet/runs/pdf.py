"""The one-page test protocol (fpdf2): who, what, when, each step with limits and measured
values, the verdict, the pressure chart with its limit bands, the next due date and the SHA-256
that ties a printed copy to the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fpdf import FPDF, FontFace

CHART_POINTS = 400
_RESULT_COLOURS = {
    "passed": (24, 128, 56),
    "warning": (196, 120, 0),
    "failed": (190, 30, 30),
    "skipped": (110, 110, 110),
}


def _t(value: Any) -> str:
    """Text safe for the PDF core fonts (Latin-1)."""
    text = "" if value is None else str(value)
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-")
    return text.encode("latin-1", "replace").decode("latin-1")


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return _t(value)


def limits_text(criteria: dict[str, Any] | None, units: dict[str, str]) -> str:
    """Describe a criterion's limits in one line."""
    c = criteria if isinstance(criteria, dict) else {}
    if not c.get("type"):
        return "-"
    unit = units.get(c.get("signal", ""), "")
    kind = c.get("type")
    text = {
        "boolean": lambda: "operator confirms",
        "range": lambda: (
            f"{c.get('signal')} {c.get('statistic', 'mean')} in "
            f"[{_num(c.get('min', '-inf'))}, {_num(c.get('max', 'inf'))}] {unit}"
        ),
        "target_tolerance": lambda: (
            f"{c['signal']} {_num(c['target'])} +/- "
            f"{_num(c['tolerance'])} {unit}"
            + (f" within {_num(c['within_s'])} s" if "within_s" in c else "")
        ),
        "max_loss_percent": lambda: (
            f"loss <= {_num(c['max_percent'])} % over {_num(c['hold_s'])} s"
        ),
        "max_loss_rate": lambda: f"loss <= {_num(c['max_per_min'])} {unit}/min",
        "settled": lambda: f"within {_num(c['band'])} {unit} for {_num(c['for_s'])} s",
    }.get(str(kind), lambda: str(kind))()
    if c.get("marginal"):
        text += f" (marginal {_num(c['marginal'])})"
    return text


def measured_text(evaluation: dict[str, Any] | None) -> str:
    """Describe an evaluation's measured values in one line."""
    if not evaluation:
        return "-"
    measured = evaluation.get("measured") or {}
    parts = [f"{k}={_num(v)}" for k, v in measured.items() if v is not None and k != "source"]
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
) -> None:
    points, bands, starts = _chart_series(results, pressure)
    pdf.set_draw_color(160, 160, 160)
    pdf.rect(x, y, w, h)
    pdf.set_font("Helvetica", "", 7)
    if not points:
        pdf.set_xy(x, y + h / 2 - 3)
        pdf.cell(w, 6, "no pressure samples recorded", align="C")
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
    pdf.cell(30, 3, f"{hi:.1f} mbar")
    pdf.set_xy(x + 1, y + h - 4)
    pdf.cell(30, 3, f"{lo:.1f} mbar")
    pdf.set_xy(x + w - 31, y + h - 4)
    pdf.cell(30, 3, f"{xmax:.0f} s", align="R")
    pdf.set_text_color(0, 0, 0)


def render(info: dict[str, Any]) -> bytes:
    """Render the protocol. ``info`` holds the report row's fields plus display names:
    ``report`` (id, status, start/end, results, pressure_data), ``customer``, ``device``,
    ``operator``, ``sha256``, ``next_due_at``."""
    report = info["report"]
    results: dict[str, Any] = report["results"] if isinstance(report["results"], dict) else {}
    raw_pressure = report["pressure_data"]
    pressure: dict[str, Any] = raw_pressure if isinstance(raw_pressure, dict) else {}
    units = pressure.get("units") or {}
    scenario = results.get("scenario") or {}
    verdict = results.get("verdict") or report["status"]

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_compression(True)
    pdf.set_auto_page_break(False)
    pdf.set_margins(12, 10, 12)
    pdf.set_title(_t(f"Test report {report['id']}"))
    pdf.set_creator("Fleet Management System")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(130, 8, _t(f"Mask test protocol - report #{report['id']}"))
    colour = _RESULT_COLOURS.get(str(verdict), (0, 0, 0))
    pdf.set_text_color(*colour)
    pdf.cell(
        56, 8, _t(f"Verdict: {str(verdict).upper()}"), align="R", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_text_color(0, 0, 0)

    pdf.set_font("Helvetica", "", 9)
    rows = [
        ("Customer", info.get("customer") or "-", "Operator", info.get("operator") or "-"),
        ("Device", info.get("device") or "-", "Status", report["status"]),
        (
            "Scenario",
            scenario.get("name") or info.get("scenario") or "-",
            "Kind of test",
            scenario.get("kind_of_test") or "-",
        ),
        ("Started", _when(report["start_time"]), "Ended", _when(report["end_time"])),
    ]
    for k1, v1, k2, v2 in rows:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(24, 5.5, _t(k1))
        pdf.set_font("Helvetica", "", 9)
        pdf.cell(72, 5.5, _t(v1)[:48])
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(24, 5.5, _t(k2))
        pdf.set_font("Helvetica", "", 9)
        pdf.cell(66, 5.5, _t(v2)[:44], new_x="LMARGIN", new_y="NEXT")
    abort = results.get("abort")
    if abort:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(0, 5.5, _t(f"Aborted: {abort.get('reason')}")[:110], new_x="LMARGIN", new_y="NEXT")
    elif results.get("ended_because"):
        pdf.cell(
            0, 5.5, _t(f"Ended early: {results['ended_because']}"), new_x="LMARGIN", new_y="NEXT"
        )

    pdf.ln(2)
    steps = results.get("steps") or []
    pdf.set_font("Helvetica", "", 7.5 if len(steps) <= 10 else 6)
    with pdf.table(
        col_widths=(7, 44, 62, 55, 18),
        line_height=3.6 if len(steps) <= 10 else 2.8,
        text_align="LEFT",
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 238, 242)),
        borders_layout="HORIZONTAL_LINES",
        padding=0.8,
    ) as table:
        table.row(["#", "Step", "Limits", "Measured", "Result"])
        for step in steps:
            result = str(step.get("result") or step.get("status") or "not run")
            row = table.row()
            row.cell(str(step.get("step_order", "")))
            row.cell(_t(step.get("step_name"))[:80])
            row.cell(_t(limits_text(step.get("criteria"), units)))
            row.cell(_t(measured_text(step.get("evaluation")))[:160])
            colour = _RESULT_COLOURS.get(result, (0, 0, 0))
            row.cell(result, style=FontFace(color=colour, emphasis="BOLD"))

    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(
        0,
        5,
        "Pressure (pressure_low, mbar) over time; green: limit bands",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    top = pdf.get_y() + 1
    chart_h = min(85.0, 262 - top)
    _chart(pdf, 12, top, 186, chart_h, results, pressure)
    pdf.set_y(top + chart_h + 4)

    pdf.set_font("Helvetica", "B", 10)
    due_text = (
        _when(info["next_due_at"])
        if info.get("next_due_at")
        else ("unchanged (a failed or aborted test does not count)")
    )
    pdf.cell(0, 6, _t(f"Next test due: {due_text}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.cell(
        0,
        5,
        "SHA-256 of the report's canonical content (check it at "
        "GET /api/v1/reports/verify?sha256=...):",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Courier", "B", 8.5)
    pdf.cell(0, 5, _t(info.get("sha256") or "not sealed"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 7)
    pdf.set_y(-14)
    pdf.cell(0, 4, _t(f"Printed {_when(info['printed_at'])} - Fleet Management System"), align="C")
    return bytes(pdf.output())
