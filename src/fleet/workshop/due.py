"""What falls due: the list (JSON, CSV, PDF per customer) and the e-mail reminders.

Reminders go as one digest per customer contact through the SMTP server in the settings; every
item told to a recipient is recorded with its due date, so a second run tells nobody the same
due date again.
"""

from __future__ import annotations

import asyncio
import csv
import io
import smtplib
import ssl
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from fpdf import FPDF
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for
from fleet.auth.deps import Principal
from fleet.db import utcnow
from fleet.errors import Conflict
from fleet.models import Customer, Device, WorkshopDue, WorkshopIntervalRule, WorkshopReminder
from fleet.settings import Settings
from fleet.workshop import reasons
from fleet.workshop.schemas import DigestRead, DueRead, ReminderResult, ReminderSend


def _filters(within_days: int, customer_id: int | None, now: datetime) -> list[Any]:
    # Decommissioned items have no due entries (the engine stores none for them).
    conditions: list[Any] = [WorkshopDue.due_at <= now + timedelta(days=within_days)]
    if customer_id is not None:
        conditions.append(Device.customer_id == customer_id)
    return conditions


def due_query(
    within_days: int, customer_id: int | None, now: datetime
) -> Select[WorkshopDue, Device, str, str, str]:
    """Build the query of what falls due within ``within_days`` (overdue included)."""
    return (
        select(
            WorkshopDue,
            Device,
            Customer.name,
            WorkshopIntervalRule.name,
            WorkshopIntervalRule.source,
        )
        .join(Device, Device.id == WorkshopDue.device_id)
        .outerjoin(Customer, Customer.id == Device.customer_id)
        .outerjoin(WorkshopIntervalRule, WorkshopIntervalRule.id == WorkshopDue.rule_id)
        .where(*_filters(within_days, customer_id, now))
        .order_by(WorkshopDue.due_at, WorkshopDue.id)
    )


def to_read(row: Any, now: datetime) -> DueRead:
    """Answer one row of the due query."""
    due, device, customer_name, rule_name, source = row
    cause = reasons.load(due.reason)
    return DueRead(
        device_id=device.id,
        device_number=device.device_number,
        device_type=device.device_type,
        kind_of_device=device.kind_of_device,
        customer_id=device.customer_id,
        customer_name=customer_name,
        component=due.component,
        kind_of_test=due.kind_of_test,
        due_at=due.due_at,
        overdue=due.due_at <= now,
        effect=due.effect,
        rule_id=due.rule_id,
        rule_name=rule_name,
        source=source,
        reason=cause.english(),
        reason_code=cause.code,
        reason_params=cause.params,
    )


async def list_due(
    session: AsyncSession,
    within_days: int,
    customer_id: int | None,
    skip: int = 0,
    limit: int | None = None,
) -> tuple[int, list[DueRead]]:
    """Answer the total and one page of what falls due."""
    now = utcnow()
    stmt = due_query(within_days, customer_id, now)
    count = select(func.count()).select_from(WorkshopDue)
    if customer_id is not None:
        count = count.join(Device, Device.id == WorkshopDue.device_id)
    total = await session.scalar(count.where(*_filters(within_days, customer_id, now)))
    page = stmt.offset(skip)
    if limit is not None:
        page = page.limit(limit)
    rows = (await session.execute(page)).all()
    return int(total or 0), [to_read(r, now) for r in rows]


CSV_COLUMNS = (
    "customer_name",
    "device_number",
    "kind_of_device",
    "component",
    "kind_of_test",
    "due_at",
    "overdue",
    "effect",
    "rule_name",
    "source",
    "reason",
)


def to_csv(items: list[DueRead]) -> str:
    """Render the due list as CSV (UTF-8, one row per due item)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        data = item.model_dump()
        data["due_at"] = item.due_at.date().isoformat()
        writer.writerow([data[c] if data[c] is not None else "" for c in CSV_COLUMNS])
    return out.getvalue()


def _latin(text: Any) -> str:
    value = "" if text is None else str(text)
    return value.encode("latin-1", "replace").decode("latin-1")


def to_pdf(items: list[DueRead], title: str, within_days: int) -> bytes:
    """Render the due list as a printable PDF table."""
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(
        0,
        6,
        _latin(
            f"Falling due within {within_days} days (overdue included); {len(items)} items; "
            f"printed {utcnow().strftime('%Y-%m-%d %H:%M UTC')}"
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    widths = (40, 30, 35, 35, 30, 22, 85)
    heads = ("Customer", "Item", "Kind", "Component", "Test", "Due", "Rule")
    with pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=True) as table:
        table.row([_latin(h) for h in heads])
        for item in items:
            due = item.due_at.date().isoformat() + (" (overdue)" if item.overdue else "")
            table.row(
                [
                    _latin(item.customer_name or "-"),
                    _latin(item.device_number),
                    _latin(item.kind_of_device or item.device_type),
                    _latin(item.component or "-"),
                    _latin(item.kind_of_test),
                    _latin(due),
                    _latin(item.rule_name or item.reason),
                ]
            )
    return bytes(pdf.output())


# ---------------------------------------------------------------- reminders


def recipients_of(contact: dict[str, Any] | None) -> list[str]:
    """The e-mail addresses of a customer's contacts: ``email`` and ``contacts[].email``."""
    found: list[str] = []
    if not isinstance(contact, dict):
        return found
    if isinstance(contact.get("email"), str) and "@" in contact["email"]:
        found.append(contact["email"].strip())
    for person in contact.get("contacts") or []:
        if isinstance(person, dict) and isinstance(person.get("email"), str):
            if "@" in person["email"] and person["email"].strip() not in found:
                found.append(person["email"].strip())
    return found


@dataclass
class Digest:
    customer: Customer
    recipient: str
    items: list[DueRead]


def _body(digest: Digest, within_days: int) -> str:
    lines = [
        f"Dear {digest.customer.name},",
        "",
        f"the following equipment falls due within {within_days} days:",
        "",
    ]
    for item in digest.items:
        what = f"{item.device_number} ({item.kind_of_device or item.device_type})"
        if item.component:
            what += f", {item.component}"
        state = "OVERDUE since" if item.overdue else "due on"
        lines.append(f"- {what}: {item.kind_of_test} {state} {item.due_at.date().isoformat()}")
        lines.append(f"  rule: {item.rule_name or item.reason}")
    lines += ["", "Please arrange the tests with the workshop.", ""]
    return "\n".join(lines)


def _send(settings: Settings, messages: list[EmailMessage]) -> None:
    host = settings.smtp_host
    assert host
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_tls == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
        for message in messages:
            smtp.send_message(message)


async def send_reminders(
    session: AsyncSession, actor: Principal | None, settings: Settings, body: ReminderSend
) -> ReminderResult:
    """Tell each customer contact what falls due that he was not told yet (``dry_run``: only
    answer what would be sent)."""
    now = utcnow()
    rows = (
        await session.execute(
            due_query(body.within_days, body.customer_id, now).where(
                Device.customer_id.is_not(None)
            )
        )
    ).all()
    by_customer: dict[int, list[DueRead]] = defaultdict(list)
    for row in rows:
        item = to_read(row, now)
        assert item.customer_id is not None
        by_customer[item.customer_id].append(item)
    customers = {
        c.id: c
        for c in await session.scalars(select(Customer).where(Customer.id.in_(list(by_customer))))
    }
    told: set[tuple[int, str, str, datetime, str]] = set()
    keys = [
        (i.device_id, i.component, i.kind_of_test) for items in by_customer.values() for i in items
    ]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for r in await session.execute(
            select(
                WorkshopReminder.device_id,
                WorkshopReminder.component,
                WorkshopReminder.kind_of_test,
                WorkshopReminder.due_at,
                WorkshopReminder.recipient,
            ).where(
                tuple_(
                    WorkshopReminder.device_id,
                    WorkshopReminder.component,
                    WorkshopReminder.kind_of_test,
                ).in_(chunk)
            )
        ):
            told.add((r[0], r[1], r[2], r[3], r[4]))
    digests: list[Digest] = []
    without: list[str] = []
    for customer_id, items in sorted(by_customer.items()):
        customer = customers[customer_id]
        addresses = recipients_of(customer.contact_info)
        if not addresses:
            without.append(customer.name)
            continue
        for address in addresses:
            new = [
                i
                for i in items
                if (i.device_id, i.component, i.kind_of_test, i.due_at, address) not in told
            ]
            if new:
                digests.append(Digest(customer, address, new))
    if not body.dry_run and digests:
        if not settings.smtp_host:
            raise Conflict("No SMTP server is configured (FLEET_SMTP_HOST)")
        messages = []
        for digest in digests:
            message = EmailMessage()
            message["From"] = settings.smtp_sender
            message["To"] = digest.recipient
            message["Subject"] = (
                f"Equipment due for testing: {len(digest.items)} item(s) - {digest.customer.name}"
            )
            message["Message-ID"] = make_msgid(domain="fleet.local")
            message.set_content(_body(digest, body.within_days))
            messages.append(message)
        try:
            await asyncio.to_thread(_send, settings, messages)
        except (OSError, smtplib.SMTPException) as exc:
            raise Conflict(f"The SMTP server refused the reminders: {exc}") from exc
        for digest in digests:
            for item in digest.items:
                session.add(
                    WorkshopReminder(
                        customer_id=digest.customer.id,
                        device_id=item.device_id,
                        component=item.component,
                        kind_of_test=item.kind_of_test,
                        due_at=item.due_at,
                        recipient=digest.recipient,
                        sent_at=now,
                        sent_by=actor.user_id if actor else None,
                    )
                )
        await session.flush()
        audit_for(actor).record(
            session,
            "workshop.reminders.send",
            details={
                "entity": "workshop_reminder",
                "digests": [
                    {"customer_id": d.customer.id, "recipient": d.recipient, "items": len(d.items)}
                    for d in digests
                ],
            },
        )
    return ReminderResult(
        dry_run=body.dry_run,
        digests=[
            DigestRead(
                customer_id=d.customer.id,
                customer_name=d.customer.name,
                recipient=d.recipient,
                items=d.items,
                sent=not body.dry_run,
            )
            for d in digests
        ],
        customers_without_email=without,
    )
