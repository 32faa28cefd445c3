"""Due reminders through a real SMTP server on loopback: the right customers get exactly the
right items, once; a second run sends nothing new; the due list as JSON, CSV and PDF."""

from __future__ import annotations

import asyncio
import csv
import email
import io
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.db import utcnow
from fleet.models import WorkshopReminder
from tests.factories import add_customer, add_device
from tests.runs.pdftext import pdf_text
from tests.support import clean_env, run_fleet
from tests.workshop.conftest import W


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def due_world(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, Any]:
    mgr = role_headers["manager"]
    assert (await client.post(f"{W}/interval-rules/seed", headers=mgr)).status_code == 200
    brigade = await add_customer(
        sessionmaker,
        name="Brigade",
        contact_info={
            "email": "chief@brigade.example",
            "contacts": [{"name": "Ann", "email": "ann@brigade.example"}],
        },
    )
    chem = await add_customer(
        sessionmaker, name="Chem", contact_info={"email": "safety@chem.example"}
    )
    silent = await add_customer(sessionmaker, name="Silent", contact_info={"phone": "+48 1 2 3"})
    used = await add_device(
        sessionmaker, "FFM-A1", customer_id=brigade, kind="full_face_mask", serial=True
    )
    idle = await add_device(
        sessionmaker, "FFM-A2", customer_id=brigade, kind="full_face_mask", serial=True
    )
    cylinder = await add_device(
        sessionmaker, "CYL-B1", kind="composite_cylinder", customer_id=chem, serial=True
    )
    other = await add_device(
        sessionmaker, "CYL-C1", kind="composite_cylinder", customer_id=silent, serial=True
    )
    far = await add_device(
        sessionmaker, "CYL-B2", kind="composite_cylinder", customer_id=chem, serial=True
    )
    r = await client.post(
        f"{W}/items/{used}/uses",
        headers=mgr,
        json={"used_at": (utcnow() - timedelta(days=2)).isoformat()},
    )
    assert r.status_code == 201
    soon = (utcnow() - timedelta(days=365 * 5) + timedelta(days=10)).isoformat()
    later = (utcnow() - timedelta(days=365 * 5) + timedelta(days=100)).isoformat()
    for device, made in ((cylinder, soon), (other, soon), (far, later)):
        r = await client.put(f"{W}/items/{device}", headers=mgr, json={"manufactured_on": made})
        assert r.status_code == 200, r.text
    return {
        "mgr": mgr,
        "h": role_headers,
        "brigade": brigade,
        "chem": chem,
        "ids": {"used": used, "idle": idle, "cylinder": cylinder, "other": other, "far": far},
    }


def _numbers(message: Message) -> set[str]:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    return {n for n in ("FFM-A1", "FFM-A2", "CYL-B1", "CYL-C1", "CYL-B2") if n in text}


async def test_reminders_are_sent_once(
    app: Any,
    client: httpx.AsyncClient,
    due_world: dict[str, Any],
    smtp: tuple[Inbox, int],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    inbox, port = smtp
    mgr = due_world["mgr"]
    send = f"{W}/reminders/send"
    # nothing configured: refused, nothing written
    r = await client.post(send, headers=mgr, json={"within_days": 30})
    assert r.status_code == 409 and "SMTP" in r.json()["detail"]
    app.state.settings = app.state.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_tls": "none",
            "smtp_sender": "workshop@fleet.example",
        }
    )
    r = await client.post(send, headers=due_world["h"]["operator"], json={})
    assert r.status_code == 403

    r = await client.post(send, headers=mgr, json={"within_days": 30, "dry_run": True})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["dry_run"] and inbox.messages == []
    got = {
        (d["recipient"], frozenset(i["device_number"] for i in d["items"])) for d in plan["digests"]
    }
    assert got == {
        ("chief@brigade.example", frozenset({"FFM-A1"})),
        ("ann@brigade.example", frozenset({"FFM-A1"})),
        ("safety@chem.example", frozenset({"CYL-B1"})),
    }
    assert plan["customers_without_email"] == ["Silent"]
    item = plan["digests"][0]["items"][0]
    assert item["rule_name"] and item["source"] in ("regulation", "manufacturer")

    r = await client.post(send, headers=mgr, json={"within_days": 30})
    assert r.status_code == 200 and all(d["sent"] for d in r.json()["digests"])
    assert len(inbox.messages) == 3
    mails = {rcpt[0]: msg for rcpt, msg in inbox.messages}
    assert set(mails) == {"chief@brigade.example", "ann@brigade.example", "safety@chem.example"}
    assert _numbers(mails["chief@brigade.example"]) == {"FFM-A1"}
    assert _numbers(mails["ann@brigade.example"]) == {"FFM-A1"}
    assert _numbers(mails["safety@chem.example"]) == {"CYL-B1"}
    assert mails["safety@chem.example"]["From"] == "workshop@fleet.example"
    assert "hydrostatic" in str(mails["safety@chem.example"].get_payload(decode=True))
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WorkshopReminder)) == 3

    # a second run tells nobody anything new
    r = await client.post(send, headers=mgr, json={"within_days": 30})
    assert r.status_code == 200 and r.json()["digests"] == []
    assert len(inbox.messages) == 3
    # another use does not move the after-use due date: still nothing new
    await client.post(f"{W}/items/{due_world['ids']['used']}/uses", headers=mgr, json={})
    r = await client.post(send, headers=mgr, json={"within_days": 30})
    assert r.json()["digests"] == [] and len(inbox.messages) == 3
    # a wider window brings the far cylinder, to its customer only
    r = await client.post(
        send, headers=mgr, json={"within_days": 120, "customer_id": due_world["chem"]}
    )
    assert [
        (d["recipient"], [i["device_number"] for i in d["items"]]) for d in r.json()["digests"]
    ] == [("safety@chem.example", ["CYL-B2"])]
    assert len(inbox.messages) == 4


async def test_due_list_json_csv_pdf(client: httpx.AsyncClient, due_world: dict[str, Any]) -> None:
    mgr, chem = due_world["mgr"], due_world["chem"]
    r = await client.get(f"{W}/due", headers=mgr, params={"within_days": 30})
    assert r.status_code == 200
    numbers = [i["device_number"] for i in r.json()]
    assert numbers == ["FFM-A1", "CYL-B1", "CYL-C1"] and r.headers["X-Total-Count"] == "3"
    assert r.json()[0]["overdue"] is True and r.json()[1]["overdue"] is False
    r = await client.get(f"{W}/due", headers=mgr, params={"within_days": 30, "customer_id": chem})
    assert [i["device_number"] for i in r.json()] == ["CYL-B1"]
    r = await client.get(
        f"{W}/due.csv", headers=mgr, params={"within_days": 120, "customer_id": chem}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["device_number"], x["kind_of_test"]) for x in rows] == [
        ("CYL-B1", "hydrostatic"),
        ("CYL-B2", "hydrostatic"),
    ]
    r = await client.get(
        f"{W}/due.pdf", headers=mgr, params={"within_days": 30, "customer_id": chem}
    )
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = pdf_text(r.content)
    assert "Chem" in text and "CYL-B1" in text and "CYL-B2" not in text
    r = await client.get(f"{W}/due.pdf", headers=mgr, params={"customer_id": 999999})
    assert r.status_code == 404
    r = await client.get(f"{W}/due", headers=mgr, params={"within_days": -1})
    assert r.status_code == 422


def _fleet(settings: Any, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(
        FLEET_DATA_DIR=str(settings.data_dir),
        FLEET_ENV="test",
        FLEET_DATABASE_URL=settings.resolved_database_url(),
        FLEET_SMTP_HOST="127.0.0.1",
        FLEET_SMTP_PORT=str(port),
        FLEET_SMTP_TLS="none",
    )
    return run_fleet(*args, env=env, check=False, timeout=120)


async def test_reminders_on_a_schedule_from_the_command_line(
    settings: Any, due_world: dict[str, Any], smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    args = ("workshop", "send-reminders", "--within-days", "30")
    dry = await asyncio.to_thread(_fleet, settings, port, *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would send to safety@chem.example (Chem): CYL-B1 hydrostatic" in dry.stdout
    assert "no e-mail address: Silent" in dry.stdout and inbox.messages == []
    sent = await asyncio.to_thread(_fleet, settings, port, *args)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.count("sent to ") == 3 and len(inbox.messages) == 3
    again = await asyncio.to_thread(_fleet, settings, port, *args)
    assert "nothing new to send" in again.stdout and len(inbox.messages) == 3
