"""``fleet workshop send-reminders``: the due reminders on a schedule (run it from cron)."""

from __future__ import annotations

import asyncio

from fleet.db import create_engine, create_sessionmaker
from fleet.settings import Settings
from fleet.workshop import due
from fleet.workshop.schemas import ReminderResult, ReminderSend


async def _send(settings: Settings, body: ReminderSend) -> ReminderResult:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await due.send_reminders(session, None, settings, body)
    finally:
        await engine.dispose()


def send(settings: Settings, within_days: int, customer_id: int | None, dry_run: bool) -> list[str]:
    """Send (or with ``dry_run`` only list) the reminders not sent yet; answers one line each."""
    body = ReminderSend(within_days=within_days, customer_id=customer_id, dry_run=dry_run)
    result = asyncio.run(_send(settings, body))
    verb = "would send" if dry_run else "sent"
    lines = [
        f"{verb} to {d.recipient} ({d.customer_name}): "
        + ", ".join(f"{i.device_number} {i.kind_of_test} {i.due_at.date()}" for i in d.items)
        for d in result.digests
    ] or ["nothing new to send"]
    return lines + [f"no e-mail address: {name}" for name in result.customers_without_email]
