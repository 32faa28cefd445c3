"""Presence: every poll records when and from where a device was seen.

A device is ``online`` while it was seen within ``offline_after_intervals`` polling intervals.
The ``online`` column holds the status last announced; flipping it with a conditional UPDATE
makes exactly one request (or one sweeping worker) announce each change, even with several
workers, as a ``device.status_changed`` event and an audit row.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet import dialect
from fleet.audit.service import record
from fleet.db import utcnow
from fleet.events import EventBus
from fleet.models import Device, DevicePresence
from fleet.settings import DdiSettings

log = logging.getLogger(__name__)

STATUS_EVENT = "device.status_changed"


def is_online(last_seen: datetime | None, config: DdiSettings, now: datetime) -> bool:
    """Tell whether a device seen at ``last_seen`` counts as online at ``now``."""
    return last_seen is not None and now - last_seen <= timedelta(
        seconds=config.offline_after_seconds
    )


def status_payload(
    device: Device | None, device_id: int, status: str, last_seen: datetime, address: str | None
) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "device_number": device.device_number if device else None,
        "status": status,
        "previous": "offline" if status == "online" else "online",
        "last_seen": last_seen.isoformat(),
        "address": address,
    }


async def publish_status(bus: EventBus, payload: dict[str, Any]) -> None:
    """Announce a status change to the device's and the fleet's subscribers."""
    topics = [f"device:{payload['device_id']}", "fleet"]
    publish_many = getattr(bus, "publish_many", None)
    if publish_many is not None:
        await publish_many(topics, STATUS_EVENT, payload)
    else:
        for topic in topics:
            await bus.publish(topic, STATUS_EVENT, payload)


_SEEN: dict[str, Any] = {"last_seen": bindparam("seen_at"), "address": bindparam("addr")}
_KEEP_ONLINE = (
    update(DevicePresence)
    .where(DevicePresence.device_id == bindparam("did"), DevicePresence.online.is_(True))
    .values(**_SEEN)
    .execution_options(synchronize_session=False)
)
_COME_ONLINE = (
    update(DevicePresence)
    .where(DevicePresence.device_id == bindparam("did"), DevicePresence.online.is_(False))
    .values(**_SEEN, online=True)
    .execution_options(synchronize_session=False)
)


async def record_poll(
    session: AsyncSession, device: Device, address: str | None, now: datetime | None = None
) -> dict[str, Any] | None:
    """Store last_seen and address; answers the status-change payload when it came online."""
    now = now or utcnow()
    address = address[:45] if address else None
    params = {"did": device.id, "seen_at": now, "addr": address}
    kept = await session.execute(_KEEP_ONLINE, params)
    if getattr(kept, "rowcount", 0):
        return None
    flipped = await session.execute(_COME_ONLINE, params)
    changed = bool(getattr(flipped, "rowcount", 0))
    if not changed:
        created = await session.execute(
            dialect.insert(session, DevicePresence)
            .values(device_id=device.id, last_seen=now, address=address, online=True)
            .on_conflict_do_nothing(index_elements=["device_id"])
        )
        changed = bool(getattr(created, "rowcount", 0))
    if not changed:
        return None
    payload = status_payload(device, device.id, "online", now, address)
    record(
        session,
        STATUS_EVENT,
        ip_address=address,
        details={"entity": "device", "id": device.id, "status": "online", "address": address},
    )
    return payload


async def sweep(
    factory: async_sessionmaker[AsyncSession],
    bus: EventBus,
    config: DdiSettings,
    now: datetime | None = None,
) -> list[int]:
    """Mark devices not seen for too long offline and announce it; answers their ids."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=config.offline_after_seconds)
    async with factory() as session, session.begin():
        rows = (
            await session.execute(
                update(DevicePresence)
                .where(DevicePresence.online.is_(True), DevicePresence.last_seen < cutoff)
                .values(online=False)
                .returning(
                    DevicePresence.device_id, DevicePresence.last_seen, DevicePresence.address
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not rows:
            return []
        devices = {
            d.id: d
            for d in await session.scalars(
                select(Device).where(Device.id.in_([r.device_id for r in rows]))
            )
        }
        payloads = []
        for r in rows:
            payloads.append(
                status_payload(
                    devices.get(r.device_id), r.device_id, "offline", r.last_seen, r.address
                )
            )
            record(
                session,
                STATUS_EVENT,
                ip_address=r.address,
                details={
                    "entity": "device",
                    "id": r.device_id,
                    "status": "offline",
                    "last_seen": r.last_seen.isoformat(),
                },
            )
    for payload in payloads:
        await publish_status(bus, payload)
    return [r.device_id for r in rows]


async def presence_of(
    session: AsyncSession, device_id: int, config: DdiSettings
) -> dict[str, Any]:
    """Answer a device's presence: status, last_seen, address."""
    row = await session.get(DevicePresence, device_id)
    now = utcnow()
    last_seen = row.last_seen if row else None
    return {
        "device_id": device_id,
        "status": "online" if is_online(last_seen, config, now) else "offline",
        "last_seen": last_seen,
        "address": row.address if row else None,
        "polling_seconds": config.polling_seconds,
    }
