"""The demo's past reports are real runs on the simulated bench: each automatic step carries its
pressure trace and evaluation, every report is sealed and verifies, and its PDF draws the chart
and gives the due date's true reason."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from fleet.models import TestReport, TestReportSeal
from fleet.runs import reports
from fleet.settings import Settings, sync_database_url
from tests.runs.pdftext import pdf_text
from tests.test_cli import run


def test_demo_reports_carry_traces_and_seals(settings: Settings) -> None:
    done = run(settings, "demo")
    assert done.returncode == 0, done.stderr
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    with Session(engine) as db:
        rows = db.scalars(select(TestReport).order_by(TestReport.id)).all()
        assert len(rows) >= 10
        verdicts = set()
        for report in rows:
            results = report.results or {}
            verdicts.add(results["verdict"])
            auto = [s for s in results["steps"] if s["auto_test"] and s["result"] is not None]
            assert auto, report.id
            for step in auto:
                block = report.pressure_data["steps"][str(step["step_order"])]
                assert len(block["t"]) > 10 and step["evaluation"]["measured"]
            seal = db.get(TestReportSeal, report.id)
            assert seal is not None and seal.sha256 == reports.fingerprint(report)
        assert {"passed", "failed"} <= verdicts
    engine.dispose()


async def test_a_demo_report_prints_its_trace(settings: Settings) -> None:
    import httpx

    from fleet.app import create_app

    assert run(settings, "demo").returncode == 0
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post(
            "/api/v1/auth/login", json={"username": "manager1", "password": "pass"}
        )
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        listed = (await client.get("/api/v1/reports", headers=h, params={"limit": 50})).json()
        passed = next(x for x in listed if x["verdict"] == "passed")
        failed = next(x for x in listed if x["verdict"] == "failed")
        text = pdf_text(
            (await client.get(f"/api/v1/reports/{passed['id']}/pdf", headers=h)).content
        )
        assert "no pressure samples recorded" not in text
        assert "Next test due:" in text and "unchanged" not in text
        text = pdf_text(
            (await client.get(f"/api/v1/reports/{failed['id']}/pdf", headers=h)).content
        )
        assert "the mask failed this test" in text
    await app.state.engine.dispose()
