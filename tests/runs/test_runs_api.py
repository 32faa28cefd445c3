"""Running tests end to end: passed, warning, failed and aborted runs, bad input, the report
snapshot, due dates, PDF, verification, CSV, and who may do what."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import Configuration, DeviceDueDate, SystemLog, TestReport, TestReportSeal
from tests.conftest import add_user, bearer, login
from tests.factories import add_device, create_scenario, flow, yearly_test_setup
from tests.runs.pdftext import pdf_text
from tests.writes import recorded_writes

T = "/api/v1/tests"
R = "/api/v1/reports"


@pytest.fixture
async def setup(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, Any]:
    return await yearly_test_setup(client, sessionmaker, role_headers)


async def start(
    client: httpx.AsyncClient, setup: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    body = {"scenario_id": setup["scenario"]["id"], "device_id": setup["device"]}
    r = await client.post(f"{T}/start", headers=headers or setup["op"], json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def step(
    client: httpx.AsyncClient, headers: dict[str, str], test_id: int, order: int, **body: Any
) -> httpx.Response:
    return await client.post(f"{T}/{test_id}/steps/{order}", headers=headers, json=body)


async def run_yearly(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    test_id: int,
    profile: str = "good",
    from_step: int = 1,
) -> list[dict[str, Any]]:
    answers = []
    for order in range(from_step, 8):
        if order in (1, 7):
            r = await step(client, headers, test_id, order, result="passed", notes="ok")
        else:
            r = await step(client, headers, test_id, order, source="bench", bench_profile=profile)
        assert r.status_code == 200, r.text
        answers.append(r.json())
        if r.json()["progress"]["status"] != "in_progress":
            break
    return answers


async def test_a_passed_run(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    test = await start(client, setup)
    assert test["status"] == "in_progress" and test["customer_id"] == setup["customer"]
    assert test["progress"]["current_step"] == 1 and test["progress"]["steps_total"] == 7
    assert test["results"]["scenario"]["interval_months"] == 12
    answers = await run_yearly(client, setup["op"], test["id"])
    evac = answers[1]["step"]["evaluation"]
    assert evac["result"] == "passed" and evac["limits"]["target"] == -14
    assert -14.5 <= evac["measured"]["value"] <= -13.5
    leak = answers[3]["step"]["evaluation"]
    assert leak["type"] == "max_loss_percent" and leak["measured"]["loss_percent"] < 10
    r = await client.post(f"{T}/{test['id']}/complete", headers=setup["op"])
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed" and done["verdict"] == "passed"
    assert done["end_time"] and len(done["sha256"]) == 64
    assert len(done["pressure_data"]["steps"]["4"]["t"]) == 601
    async with sessionmaker() as session:
        due = await session.get(DeviceDueDate, setup["device"])
    assert due is not None and due.report_id == test["id"] and due.interval_months == 12
    assert due.next_due_at.year == due.last_test_at.year + 1
    # finished: nothing more is accepted
    assert (await step(client, setup["op"], test["id"], 7, result="passed")).status_code == 409
    assert (await client.post(f"{T}/{test['id']}/complete", headers=setup["op"])).status_code == 409
    assert (
        await client.post(f"{T}/{test['id']}/abort", headers=setup["op"], json={"reason": "x"})
    ).status_code == 409


async def test_warning_run_and_interval_from_configuration(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    f = flow()
    f.pop("interval_months")
    f["kind_of_test"] = "four_monthly"
    r = await client.patch(
        f"/api/v1/scenarios/{setup['scenario']['id']}",
        headers=setup["h"]["superuser"],
        json={"test_flow": f},
    )
    assert r.status_code == 200
    async with sessionmaker() as session, session.begin():
        session.add(
            Configuration(
                config_key="test_intervals",
                component="CPP",
                config_value={"yearly": 12, "four_monthly": 4},
            )
        )
    test = await start(client, setup)
    await run_yearly(client, setup["op"], test["id"], profile="marginal")
    done = (await client.post(f"{T}/{test['id']}/complete", headers=setup["op"])).json()
    assert done["verdict"] == "warning" and done["status"] == "completed"
    steps = done["results"]["steps"]
    assert "warning" in {s["result"] for s in steps} and "failed" not in {
        s["result"] for s in steps
    }
    async with sessionmaker() as session:
        due = await session.get(DeviceDueDate, setup["device"])
    assert due is not None and due.interval_months == 4


async def test_failed_required_step_ends_the_test(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    test = await start(client, setup)
    answers = await run_yearly(client, setup["op"], test["id"], profile="bad")
    assert len(answers) == 2  # visual inspection, then evacuation fails and ends the test
    last = answers[-1]
    assert last["step"]["result"] == "failed" and last["progress"]["status"] == "failed"
    report = (await client.get(f"{R}/{test['id']}", headers=setup["op"])).json()
    assert report["verdict"] == "failed" and report["status"] == "failed"
    assert report["results"]["ended_because"] == "required step 2 failed"
    assert report["sha256"]
    async with sessionmaker() as session:
        assert await session.get(DeviceDueDate, setup["device"]) is None  # stays due
    # the device is free again
    await start(client, setup)


async def test_continue_on_failure_and_operator_failure(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
) -> None:
    f = flow("after_use")
    f["continue_on_failure"] = True
    f["steps"][3]["required"] = False
    s = await create_scenario(client, setup["h"]["maker"], "go on", f)
    test = await start(client, {**setup, "scenario": s})
    tid = test["id"]
    r = await step(client, setup["op"], tid, 1, result="failed", notes="cracked visor")
    assert r.json()["progress"]["status"] == "in_progress"
    r = await step(client, setup["op"], tid, 2, source="bench")
    r = await step(client, setup["op"], tid, 3, measurements={"loss_percent": 2.5})
    assert r.json()["step"]["evaluation"]["measured"]["source"] == "measurement"
    r = await step(client, setup["op"], tid, 4, result="skipped")
    assert r.json()["step"]["result"] == "skipped"
    done = (await client.post(f"{T}/{tid}/complete", headers=setup["op"])).json()
    assert done["verdict"] == "failed" and done["status"] == "failed"


async def test_aborted_run(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    test = await start(client, setup)
    await step(client, setup["op"], test["id"], 1, result="passed")
    r = await client.post(f"{T}/{test['id']}/abort", headers=setup["op"], json={"reason": ""})
    assert r.status_code == 422
    r = await client.post(
        f"{T}/{test['id']}/abort",
        headers=setup["op"],
        json={"reason": "mask slipped off the test head"},
    )
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "aborted" and data["verdict"] is None
    assert data["results"]["abort"]["reason"] == "mask slipped off the test head"
    pdf = await client.get(f"{R}/{test['id']}/pdf", headers=setup["op"])
    assert "Aborted: mask slipped off the test head" in pdf_text(pdf.content)
    async with sessionmaker() as session:
        assert await session.get(DeviceDueDate, setup["device"]) is None


async def test_bad_input_writes_nothing(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    op = setup["op"]
    test = await start(client, setup)
    tid = test["id"]
    # a second start on the busy device
    r = await client.post(
        f"{T}/start",
        headers=setup["h"]["maker"],
        json={"scenario_id": setup["scenario"]["id"], "device_id": setup["device"]},
    )
    assert r.status_code == 409
    # steps out of order
    assert (await step(client, op, tid, 2, source="bench")).status_code == 409
    assert (await step(client, op, tid, 9, result="passed")).status_code == 409
    # an operator step needs a result and takes no samples; a required step cannot be skipped
    assert (await step(client, op, tid, 1)).status_code == 422
    assert (await step(client, op, tid, 1, result="skipped")).status_code == 422
    assert (await step(client, op, tid, 1, result="maybe")).status_code == 422
    await step(client, op, tid, 1, result="passed")
    # an automatic step is not decided by the operator, and needs data
    assert (await step(client, op, tid, 2, result="passed")).status_code == 422
    assert (await step(client, op, tid, 2)).status_code == 422
    # non-finite and malformed samples
    url = f"{T}/{tid}/samples"
    for bad in (
        b'{"samples": [{"t": 0, "pressure_low": NaN}]}',
        b'{"samples": [{"t": 0, "pressure_low": Infinity}]}',
        b'{"samples": [{"t": 0}]}',
        b'{"samples": [{"t": 0, "pressure_low": 1, "temp": 3}]}',
        b'{"samples": [{"t": "yesterday", "pressure_low": 1}]}',
        b'{"samples": [{"t": 0, "pressure_low": 1e300}]}',
    ):
        r = await client.post(url, headers={**op, "Content-Type": "application/json"}, content=bad)
        assert r.status_code == 422, bad
    r = await client.post(
        url,
        headers=op,
        json={"samples": [{"t": 1, "pressure_low": -1}, {"t": 0.5, "pressure_low": -2}]},
    )
    assert r.status_code == 422 and "backwards" in r.json()["detail"]
    assert (await step(client, op, tid, 2, measurements={"pressure_low": "low"})).status_code == 422
    # samples for another device's test, or for a step that is not running
    r = await client.post(
        url,
        headers=op,
        json={"device_id": setup["device"] + 99, "samples": [{"t": 0, "pressure_low": -1}]},
    )
    assert r.status_code == 409
    r = await client.post(
        url, headers=op, json={"step_order": 3, "samples": [{"t": 0, "pressure_low": -1}]}
    )
    assert r.status_code == 409
    # another operator sees the running test (to resume or abort it, see test_lifecycle) but
    # drives it only after taking it over
    await add_user(sessionmaker, "op2", "operator")
    op2 = bearer(await login(client, "op2"))
    assert (await client.get(f"{T}/{tid}", headers=op2)).status_code == 200
    assert (await step(client, op2, tid, 2, source="bench")).status_code == 403
    assert (
        await client.post(url, headers=op2, json={"samples": [{"t": 0, "pressure_low": 1}]})
    ).status_code == 403
    # nothing of the above was written
    r = await client.get(f"{T}/{tid}", headers=op)
    assert r.json()["progress"]["samples"] == {"2": 0, "3": 0, "4": 0, "5": 0, "6": 0}
    assert r.json()["progress"]["current_step"] == 2
    # unknown things
    assert (
        await client.post(
            f"{T}/start", headers=op, json={"scenario_id": 999, "device_id": setup["device"]}
        )
    ).status_code == 404
    assert (await client.get(f"{T}/999", headers=op)).status_code == 404
    other_type = await add_device(
        sessionmaker, "PS-1", device_type="pressure_sensor", kind="full_face_mask", serial=True
    )
    assert (
        await client.post(
            f"{T}/start",
            headers=op,
            json={"scenario_id": setup["scenario"]["id"], "device_id": other_type},
        )
    ).status_code == 422
    # samples in the telemetry shape with ISO times evaluate the step
    r = await client.post(
        url,
        headers=op,
        json={
            "samples": [
                {"t": test["start_time"], "pressure_low": 0.0},
                {"t": "2099-01-01T00:00:00+00:00", "pressure_low": -14.1},
            ]
        },
    )
    assert r.status_code == 200 and r.json()["total"] == 2
    r = await step(client, op, tid, 2)
    assert r.status_code == 200
    assert r.json()["step"]["evaluation"]["result"] == "failed"  # reached far beyond 30 s


async def test_concurrent_starts_on_one_device(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
) -> None:
    body = {"scenario_id": setup["scenario"]["id"], "device_id": setup["device"]}
    answers = await asyncio.gather(
        *[
            client.post(f"{T}/start", headers=setup["h"][role], json=body)
            for role in ("operator", "maker", "admin")
        ]
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409]


async def test_report_keeps_the_flow_it_ran(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
) -> None:
    test = await start(client, setup)
    await run_yearly(client, setup["op"], test["id"])
    done = (await client.post(f"{T}/{test['id']}/complete", headers=setup["op"])).json()
    f = flow()
    f["steps"][3]["criteria"]["max_percent"] = 1
    f["steps"][0]["step_name"] = "Renamed"
    r = await client.put(
        f"/api/v1/scenarios/{setup['scenario']['id']}",
        headers=setup["h"]["superuser"],
        json={"name": "Renamed scenario", "test_flow": f},
    )
    assert r.status_code == 200 and r.json()["report_count"] is None
    after = (await client.get(f"{R}/{test['id']}", headers=setup["op"])).json()
    assert after["results"] == done["results"]
    assert after["results"]["flow"]["steps"][3]["criteria"]["max_percent"] == 10
    assert after["scenario_name"] == "Yearly mask"
    assert (
        await client.delete(
            f"/api/v1/scenarios/{setup['scenario']['id']}", headers=setup["h"]["superuser"]
        )
    ).status_code == 409
    verify = await client.get(f"{R}/verify", headers=setup["op"], params={"sha256": done["sha256"]})
    assert verify.json()["valid"] is True


async def test_pdf_verify_and_tamper(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    op = setup["op"]
    test = await start(client, setup)
    assert (await client.get(f"{R}/{test['id']}/pdf", headers=op)).status_code == 409
    await run_yearly(client, op, test["id"])
    done = (await client.post(f"{T}/{test['id']}/complete", headers=op)).json()
    r = await client.get(f"{R}/{test['id']}/pdf", headers=op)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    text = " ".join(pdf_text(r.content).split("\n"))  # wrapped cells read as one line
    assert f"report #{test['id']}" in text
    assert "Verdict: PASSED" in text
    assert "Fire Brigade" in text and "FFM-1 (mask_tester, s/n SN-FFM-1)" in text
    assert "u_operator" in text and "Yearly mask" in text
    # limits and measurements in words, never raw keys
    assert (
        "Low pressure reaches -14 ± 0.5 mbar within 30 s (a warning up to 0.3 beyond)" in text
    )
    assert "Low pressure loses at most 10 % over 60 s (a warning up to 2 beyond)" in text
    leak = done["results"]["steps"][3]["evaluation"]["measured"]["loss_percent"]
    assert "loss " + f"{leak:.3f}".rstrip("0").rstrip(".") + " %" in text
    assert "loss_percent" not in text and "reached_after_s" not in text
    assert text.count("Passed") >= 7
    assert done["sha256"] in text and r.headers["X-Report-SHA256"] == done["sha256"]
    due = done["results"]["next_due_at"][:10]
    assert f"Next test due: {due} (12 months after this test" in text
    # signature fields for the tester and the date
    assert "Tester (name)" in text and "Signature" in text and "Date" in text
    # the same protocol in Polish, from the same bundle, with Polish letters
    r = await client.get(f"{R}/{test['id']}/pdf", headers=op, params={"lang": "pl"})
    pl = " ".join(pdf_text(r.content).split("\n"))
    assert "Protokół badania maski - nr" in pl and "Werdykt: ZALICZONY" in pl
    assert "Niskie ciśnienie osiąga -14 ± 0,5 mbar w ciągu 30 s" in pl
    d = done["results"]["next_due_at"]
    assert f"Następny test do: {d[8:10]}.{d[5:7]}.{d[:4]} (12 mies. po tym teście" in pl
    assert "Badający (imię i nazwisko)" in pl and "Podpis" in pl
    # the browser's language is the default
    r = await client.get(
        f"{R}/{test['id']}/pdf", headers={**op, "Accept-Language": "pl-PL,pl;q=0.9"}
    )
    assert "Werdykt" in pdf_text(r.content)
    assert (
        await client.get(f"{R}/{test['id']}/pdf", headers=op, params={"lang": "x!"})
    ).status_code == 422
    # verification
    v = await client.get(f"{R}/verify", headers=op, params={"sha256": done["sha256"].upper()})
    assert v.status_code == 200 and v.json()["valid"] is True
    assert v.json()["report_id"] == test["id"]
    assert (
        await client.get(f"{R}/verify", headers=op, params={"sha256": "0" * 64})
    ).status_code == 404
    assert (
        await client.get(f"{R}/verify", headers=op, params={"sha256": "xyz"})
    ).status_code == 422
    async with sessionmaker() as session, session.begin():
        report = await session.get(TestReport, test["id"])
        assert report is not None
        report.results = {**report.results, "verdict": "passed", "steps": []}
    v = await client.get(f"{R}/verify", headers=op, params={"sha256": done["sha256"]})
    assert v.json()["valid"] is False and "changed" in v.json()["detail"]


async def test_report_list_filters_csv_and_roles(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    op, h = setup["op"], setup["h"]
    first = await start(client, setup)
    await client.post(f"{T}/{first['id']}/abort", headers=op, json={"reason": "=cmd|x"})
    second = await start(client, setup, headers=h["maker"])
    await run_yearly(client, h["maker"], second["id"])
    await client.post(f"{T}/{second['id']}/complete", headers=h["maker"])
    other_device = await add_device(sessionmaker, "FFM-2", kind="full_face_mask", serial=True)
    third = await start(client, {**setup, "device": other_device})
    assert (await client.get(R)).status_code == 401
    mine = await client.get(R, headers=op)
    assert [x["id"] for x in mine.json()] == [third["id"], first["id"]]
    assert mine.headers["X-Total-Count"] == "2"
    everyone = await client.get(R, headers=h["manager"])
    assert [x["id"] for x in everyone.json()] == [third["id"], second["id"], first["id"]]
    assert everyone.json()[1]["verdict"] == "passed"
    assert everyone.json()[1]["scenario_name"] == "Yearly mask"
    assert everyone.json()[1]["device_number"] == "FFM-1"
    r = await client.get(R, headers=h["manager"], params={"status": "aborted"})
    assert [x["id"] for x in r.json()] == [first["id"]]
    r = await client.get(R, headers=h["manager"], params={"device_id": other_device})
    assert [x["id"] for x in r.json()] == [third["id"]]
    r = await client.get(
        R,
        headers=h["manager"],
        params={
            "scenario_id": setup["scenario"]["id"],
            "customer_id": setup["customer"],
            "from": first["start_time"],
            "to": second["start_time"],
        },
    )
    assert [x["id"] for x in r.json()] == [second["id"], first["id"]]
    assert (
        await client.get(R, headers=h["manager"], params={"status": "weird"})
    ).status_code == 422
    deep = await client.get(R, headers=h["manager"], params={"skip": 9990, "limit": 50})
    assert deep.status_code == 422 and "from/to" in deep.json()["detail"]
    maker_id = second["operator_id"]
    assert (await client.get(R, headers=op, params={"operator_id": maker_id})).status_code == 403
    assert (await client.get(f"{R}/{second['id']}", headers=op)).status_code == 403
    assert (await client.get(f"{R}/{second['id']}/pdf", headers=op)).status_code == 403
    assert (await client.get(f"{R}/{second['id']}", headers=h["admin"])).status_code == 200
    # CSV export, same filters, streamed
    r = await client.get(f"{R}/export", headers=h["manager"], params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(x["id"]) for x in rows] == [third["id"], second["id"], first["id"]]
    assert rows[1]["verdict"] == "passed" and len(rows[1]["sha256"]) == 64
    assert rows[0]["sha256"] == "" and rows[2]["status"] == "aborted"
    r = await client.get(f"{R}/export", headers=op, params={"status": "in_progress"})
    assert [int(x["id"]) for x in csv.DictReader(io.StringIO(r.text))] == [third["id"]]
    assert (
        await client.get(f"{R}/export", headers=op, params={"format": "xlsx"})
    ).status_code == 422


async def test_live_bench_streams_samples(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
) -> None:
    op = setup["op"]
    test = await start(client, setup)
    tid = test["id"]
    assert (await client.post(f"{T}/{tid}/steps/1/bench", headers=op, json={})).status_code == 409
    await step(client, op, tid, 1, result="passed")
    r = await client.post(f"{T}/{tid}/steps/2/bench", headers=op, json={"speed": 100})
    assert r.status_code == 200 and r.json()["running"] is True
    assert (await client.post(f"{T}/{tid}/steps/2/bench", headers=op, json={})).status_code == 409
    assert (await step(client, op, tid, 2)).status_code == 409  # still running
    offset, seen = 0, 0
    for _ in range(100):
        await asyncio.sleep(0.1)
        chunk = (
            await client.get(
                f"{T}/{tid}/samples", headers=op, params={"step_order": 2, "offset": offset}
            )
        ).json()
        seen += len(chunk["t"])
        offset = chunk["next_offset"]
        if chunk["bench"] and not chunk["bench"]["running"]:
            break
    assert chunk["bench"]["error"] is None
    assert seen == chunk["bench"]["total"] == offset > 0
    r = await step(client, op, tid, 2)
    assert r.status_code == 200 and r.json()["step"]["result"] == "passed"


async def test_photo_attachment(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
) -> None:
    op = setup["op"]
    test = await start(client, setup)
    url = f"{T}/{test['id']}/steps/1/photo"
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    r = await client.post(url, headers=op, files={"photo": ("visor.png", png, "image/png")})
    assert r.status_code == 201, r.text
    att = r.json()
    r = await client.post(url, headers=op, files={"photo": ("x.png", b"GIF89a", "image/png")})
    assert r.status_code == 422
    r = await client.post(url, headers=op, files={"photo": ("x.svg", b"<svg/>", "image/svg+xml")})
    assert r.status_code == 422
    assert (
        await client.post(
            f"{T}/{test['id']}/steps/3/photo",
            headers=op,
            files={"photo": ("v.png", png, "image/png")},
        )
    ).status_code == 409
    got = await client.get(f"{R}/{test['id']}/attachments/{att['id']}", headers=op)
    assert got.content == png and got.headers["content-type"] == "image/png"
    state = (await client.get(f"{T}/{test['id']}", headers=op)).json()
    assert state["results"]["steps"][0]["attachments"][0]["sha256"] == att["sha256"]


async def test_catalog_and_device_search(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    op = setup["op"]
    cat = (await client.get(f"{T}/catalog", headers=op)).json()
    assert cat["device_kinds"] == [
        {"kind_of_device": "full_face_mask", "device_type": "mask_tester", "devices": 1}
    ]
    assert cat["scenarios"][0]["kind_of_test"] == "yearly"
    test = await start(client, setup)
    found = (await client.get(f"{T}/devices", headers=op, params={"q": "sn-ffm"})).json()
    assert found[0]["id"] == setup["device"] and found[0]["running_test_id"] == test["id"]
    assert found[0]["customer_name"] == "Fire Brigade"
    assert (await client.get(f"{T}/devices")).status_code == 401
    async with sessionmaker() as session, session.begin():
        await session.execute(update(TestReport).values(status="completed"))
    seals = None
    async with sessionmaker() as session:
        seals = list(await session.scalars(select(TestReportSeal)))
    assert seals == []


async def test_reports_written_before_sealing_are_sealed_by_an_explicit_post(
    app: Any,
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A finished report imported or seeded in another shape has no seal: reading or printing
    it writes nothing (the PDF answers 409), a POST seals it once (audited), then it prints."""
    from datetime import UTC, datetime

    async with sessionmaker() as session, session.begin():
        legacy = TestReport(
            test_scenario_id=setup["scenario"]["id"],
            device_id=setup["device"],
            operator_id=None,
            customer_id=setup["customer"],
            start_time=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
            end_time=datetime(2025, 3, 1, 9, 7, tzinfo=UTC),
            status="completed",
            results={
                "verdict": "passed",
                "steps": [{"step_order": 1, "step_name": "Visual inspection", "status": "passed"}],
            },
            pressure_data=[[0, -14.0], [1, -13.9]],
        )
        session.add(legacy)

    async def seal_audits() -> int:
        async with sessionmaker() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(SystemLog)
                    .where(SystemLog.action == "report.seal")
                )
                or 0
            )

    h = setup["h"]["manager"]
    with recorded_writes(app) as writes:
        assert (await client.get(f"{R}/{legacy.id}", headers=h)).json()["sha256"] is None
        unsealed = await client.get(f"{R}/{legacy.id}/pdf", headers=h)
        assert unsealed.status_code == 409 and "not sealed" in unsealed.json()["detail"]
        assert (await client.get(f"{R}/{legacy.id}", headers=h)).json()["sha256"] is None
    assert writes == []
    async with sessionmaker() as session:
        assert await session.get(TestReportSeal, legacy.id) is None
    assert await seal_audits() == 0
    # an operator seals only his own reports; a running test is sealed when it ends
    assert (await client.post(f"{R}/{legacy.id}/seal", headers=setup["op"])).status_code == 403
    running = await start(client, setup)
    assert (await client.post(f"{R}/{running['id']}/seal", headers=h)).status_code == 409
    sealed = await client.post(f"{R}/{legacy.id}/seal", headers=h)
    assert sealed.status_code == 201, sealed.text
    sha = sealed.json()["sha256"]
    async with sessionmaker() as session:
        row = await session.get(TestReportSeal, legacy.id)
        assert row is not None and row.sha256 == sha
    assert await seal_audits() == 1
    # sealing again answers the same seal and writes nothing
    with recorded_writes(app) as writes:
        again = await client.post(f"{R}/{legacy.id}/seal", headers=h)
    assert again.status_code == 200 and again.json()["sha256"] == sha
    assert [w for w in writes if "system_logs" in w or "test_report_seals" in w] == []
    assert await seal_audits() == 1
    r = await client.get(f"{R}/{legacy.id}/pdf", headers=h)
    assert r.status_code == 200, r.text
    text = " ".join(pdf_text(r.content).split("\n"))
    assert "Visual inspection" in text and "Yearly mask" in text and "Verdict: PASSED" in text
    assert r.headers["X-Report-SHA256"] == sha
    assert (await client.get(f"{R}/{legacy.id}", headers=h)).json()["sha256"] == sha
    v = await client.get(f"{R}/verify", headers=h, params={"sha256": sha})
    assert v.json()["valid"] is True
