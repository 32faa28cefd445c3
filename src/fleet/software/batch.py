"""The batch of a group commit: ``device_software`` changes held back and written together.

A caller that finishes many installations in one transaction (the batched DDI feedback,
``fleet.devices_api.feedback``) owns one ``SoftwareChangeBatch``: it creates it, passes it to
every ``installations.transition`` of the transaction, and flushes it before it commits. While
the batch is passed, ``transition`` keeps each device's ``device_software`` change in the batch
instead of writing it, and reads each package's versions once. ``flush`` writes the held
changes in one upsert per shape of change, whatever the number of devices.

Whoever reads ``device_software`` inside such a transaction flushes the batch first (the
roll-out engine does before it plans the installations of a group). Without a batch,
``transition`` reads and writes for itself: same result, more round trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import dialect
from fleet.models import DeviceSoftware

DEVICE_SOFTWARE = cast(Table, DeviceSoftware.__table__)


@dataclass
class SoftwareChangeBatch:
    """What one group-commit transaction holds back and remembers.

    ``held``: the ``device_software`` column values to write, by (device id, software id).
    ``versions``: each package's versions once read (``queries.VERSIONS_OF_SOFTWARE`` rows).
    ``prepared``: what each policy rule loaded ahead for the installations about to finish
    (``states.Policy.prepare``), by the rule's name.
    """

    held: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    versions: dict[int, list[Any]] = field(default_factory=dict)
    prepared: dict[str, Any] = field(default_factory=dict)

    def hold(self, device_id: int, software_id: int, values: dict[str, Any]) -> None:
        """Keep a device's ``device_software`` change for ``flush``."""
        self.held[(device_id, software_id)] = values

    async def flush(self, session: AsyncSession) -> None:
        """Write the held ``device_software`` changes: one upsert by (device, software) per
        shape of change. Anything that reads ``device_software`` in the batch's transaction
        calls this first; the owner calls it before it commits."""
        held, self.held = self.held, {}
        if not held:
            return
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for (device_id, software_id), values in held.items():
            row = {"device_id": device_id, "software_id": software_id, **values}
            shapes.setdefault(tuple(sorted(values)), []).append(row)
        for columns, rows in shapes.items():
            stmt = dialect.insert(session, DEVICE_SOFTWARE)
            stmt = stmt.on_conflict_do_update(
                index_elements=["device_id", "software_id"],
                set_={column: stmt.excluded[column] for column in columns},
            )
            await session.execute(stmt, rows)
        expire_device_software(session, set(held))


def expire_device_software(session: AsyncSession, keys: set[tuple[int, int]]) -> None:
    """Let the ``device_software`` rows of these (device, software) keys that the session
    holds be reloaded after a Core write."""
    for obj in list(session.identity_map.values()):
        if not isinstance(obj, DeviceSoftware):
            continue
        loaded = inspect(obj).dict  # what is loaded; reading it never goes to the database
        if (loaded.get("device_id"), loaded.get("software_id")) in keys:
            session.expire(obj)
