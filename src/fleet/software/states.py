"""The installation state machine as data: the states, the legal moves and the policy.

An installation moves ``pending -> in_progress -> completed | failed``; ``canceled`` from
``pending`` or ``in_progress`` (``MOVES``). A device that refused a cancellation takes it back
(``canceled -> in_progress``, ``installations.reopen_canceled``), the one move out of a
finished state. ``installations`` makes the moves: one conditional UPDATE each, the device's
``device_software`` row, the audit rows.

What else a move does is not written in ``installations``: it is the ordered rules of a
``Policy``, passed in by whoever asks for the move (as in Prefect's orchestration policies).
Each rule names the moves it takes part in and has three steps:

``prepare(session, installation_ids)``
    Load ahead, for a caller about to finish many installations in one transaction (the
    batched DDI feedback); the answer is kept in the caller's ``SoftwareChangeBatch``.
``before(session, move)``
    Runs before the installation row is written (this is where a rule takes its locks; lock
    order everywhere: roll-out row, then installation, then groups). Its answer is handed to
    ``after``.
``after(session, move, found)``
    Runs once the installation and the device's software are written, in the same
    transaction.

The policy every installation change runs under is ``fleet.software.policy.INSTALLATION_POLICY``:
the roll-out engine registers its rules there (``rollouts.RULES``).

This module also says whether an installation may start at all (``plan_problem``) and what a
new pending installation's row holds (``installation_values``): the roll-out engine creates
its installations in bulk from the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from fleet.errors import Conflict, ValidationFailed
from fleet.models import Device, DeviceSoftware, Software, SoftwareInstallation, SoftwareVersion
from fleet.software.batch import SoftwareChangeBatch
from fleet.software.semver import compatibility_problem

ACTIONS: Final = ("install", "update", "uninstall", "rollback")
STATUSES: Final = ("pending", "in_progress", "completed", "failed", "canceled")
UNFINISHED: Final = ("pending", "in_progress")
FINISHED: Final = frozenset({"completed", "failed", "canceled"})
# The legal moves of ``transition``: from a status, the statuses it may move to.
MOVES: Final[dict[str, frozenset[str]]] = {
    "pending": frozenset({"in_progress", "canceled"}),
    "in_progress": frozenset({"completed", "failed", "canceled"}),
}
# A refused cancellation taken back (hawkBit): the one move out of a finished state.
REOPEN: Final = ("canceled", "in_progress")
DEVICE_STATUSES: Final = ("not_installed", "installing", "installed", "failed", "outdated")
RUNNING: Final = ("installed", "outdated")
LOG_LINE_MAX = 2000


def check_moves(installation_id: int, old: str, steps: list[str]) -> None:
    """Refuse a path of moves from ``old`` that is not legal step by step: an unknown status is
    422, a move the table does not allow (the same status twice included) 409."""
    before = old
    for step in steps:
        if step not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}")
        if step not in MOVES.get(before, frozenset()):
            raise Conflict(f"installation {installation_id} cannot move from {before} to {step}")
        before = step


def log_entry(existing: str | None, now: datetime, status: str, line: str | None) -> str:
    """Append a timestamped line to an installation's log."""
    entry = f"{now.isoformat(timespec='seconds')} [{status}]"
    if line:
        entry += " " + line.replace("\r", " ").replace("\n", " ")[:LOG_LINE_MAX]
    return f"{existing}\n{entry}" if existing else entry


# -- the policy -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Move:
    """One move being made, as the policy's rules see it: the installation (its new status
    already set once ``after`` runs), where it came from and went, who asked, and the batch
    of the caller's group commit if there is one."""

    installation: SoftwareInstallation
    old: str
    new: str
    actor_user_id: int | None = None
    ip: str | None = None
    batch: SoftwareChangeBatch | None = None


class Rule:
    """One rule of a policy: ``name``, the moves it takes part in (``from_states`` ->
    ``to_states``) and its steps (see the module's description). The steps do nothing unless a
    rule says otherwise."""

    name: str = ""
    from_states: frozenset[str] = frozenset()
    to_states: frozenset[str] = frozenset()

    def applies(self, old: str, new: str) -> bool:
        return old in self.from_states and new in self.to_states

    async def prepare(self, session: AsyncSession, installation_ids: list[int]) -> Any:
        return None

    async def before(self, session: AsyncSession, move: Move) -> Any:
        return None

    async def after(self, session: AsyncSession, move: Move, found: Any) -> None:
        return None


@dataclass(frozen=True)
class Policy:
    """The ordered rules every move runs through. Immutable: ``register`` answers a new
    policy with one more rule at the end."""

    rules: tuple[Rule, ...] = ()

    def register(self, *rules: Rule) -> Policy:
        names = [r.name for r in (*self.rules, *rules)]
        if "" in names or len(set(names)) != len(names):
            raise ValueError(f"policy rules need distinct names, got {names}")
        return Policy((*self.rules, *rules))

    def rules_for(self, old: str, new: str) -> tuple[Rule, ...]:
        """The rules that take part in the move ``old -> new``, in policy order."""
        return tuple(rule for rule in self.rules if rule.applies(old, new))

    async def prepare(
        self, session: AsyncSession, installation_ids: list[int], batch: SoftwareChangeBatch
    ) -> None:
        """Let each rule load ahead for installations about to finish in one transaction; the
        answers are kept in ``batch.prepared`` by rule name."""
        for rule in self.rules:
            batch.prepared[rule.name] = await rule.prepare(session, installation_ids)


# -- whether and how an installation starts ---------------------------------------------------
def plan_problem(
    *,
    action: str,
    device: Device,
    version: SoftwareVersion,
    software: Software,
    current: DeviceSoftware | None,
    has_unfinished: bool,
    rollback_point: dict[str, Any] | None,
) -> str | None:
    """Explain why ``action`` of ``version`` cannot start on ``device`` now, or answer None."""
    if has_unfinished:
        return (
            f"device {device.device_number} already has an unfinished installation "
            f"of {software.name}"
        )
    running = current is not None and current.installation_status in RUNNING
    runs_version = current.version_id if current is not None and running else None
    if action in ("install", "update"):
        if not software.is_active:
            return f"{software.name} is inactive; activate it before installing its versions"
        problem = compatibility_problem(version.compatibility, device)
        if problem:
            return f"version {version.version_number} is not compatible: {problem}"
        if runs_version == version.id:
            return f"device {device.device_number} already runs {version.version_number}"
        if action == "update" and (current is None or current.version_id is None):
            return f"{software.name} is not installed on {device.device_number}; use install"
    elif action == "uninstall":
        if current is None or current.version_id is None:
            return f"{software.name} is not installed on {device.device_number}"
        if current.version_id != version.id:
            return (
                f"device {device.device_number} runs {current.installed_version}, "
                f"not {version.version_number}"
            )
    elif action == "rollback":
        if not rollback_point or rollback_point.get("version_id") is None:
            return f"nothing to roll back to: {device.device_number} has no earlier version"
        if rollback_point["version_id"] != version.id:
            return (
                f"a rollback returns to the rollback point, version "
                f"{rollback_point.get('version')} (id {rollback_point['version_id']})"
            )
    return None


def new_rollback_point(software_id: int, current: DeviceSoftware | None) -> dict[str, Any]:
    """Record what the device ran before a change."""
    return {
        "software_id": software_id,
        "version_id": current.version_id if current else None,
        "version": current.installed_version if current else None,
        "configuration": current.configuration if current else None,
        "installation_status": (current.installation_status if current else None)
        or "not_installed",
    }


def installation_values(
    *,
    device_id: int,
    version: SoftwareVersion,
    software_id: int,
    current: DeviceSoftware | None,
    action: str,
    initiated_by: int | None,
    now: datetime,
    restores: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Answer the column values of a new pending installation (``current`` is the device's
    row for the software before the change; a rollback keeps the point it returns to under
    ``rollback_point["restores"]``)."""
    point = new_rollback_point(software_id, current)
    if restores is not None:
        point["restores"] = {k: v for k, v in restores.items() if k != "restores"}
    return {
        "device_id": device_id,
        "version_id": version.id,
        "action": action,
        "status": "pending",
        "initiated_by": initiated_by,
        "started_at": now,
        "previous_version": current.installed_version if current else None,
        "new_version": None if action == "uninstall" else version.version_number,
        "rollback_point": point,
        "installation_log": log_entry(None, now, "pending", f"{action} {version.version_number}"),
    }
