"""Action feedback of many devices applied in one transaction (group commit).

A roll-out makes hundreds of devices report at the same moment, and what a report costs is
mostly its round trips to the database: begin, token check, roll-out lock, the writes, commit.
Reports that arrive while a batch is being written wait for the next one; a batch checks all
tokens in one query, locks the roll-outs concerned in one query (the installation policy's
``prepare``), reads each package's versions once, runs every report through the same state
machine as a single report would (``actions.apply_feedback``), writes the devices'
``device_software`` rows together and commits once. The batch's held-back changes are an
explicit ``SoftwareChangeBatch``, created, passed to every move and flushed here. A lone
report is a batch of one, so nothing waits for a timer.

Each request still gets its own answer, and only after the commit that holds its report: a
refused report (401, 404, 409, 410, ...) is refused before it writes anything, so it does not
disturb the others. If the batch's transaction fails as a whole, or a report is refused after
it wrote (which the state machine never does, and is watched for all the same), every report is
applied again alone, in a transaction of its own: one bad report cannot fail or spoil another
device's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from fleet.db import commit_early
from fleet.devices_api import actions
from fleet.devices_api.credentials import (
    DeviceIdentity,
    authenticate_gateway,
    authenticate_with_actions,
    gateway_token_of,
)
from fleet.devices_api.schemas import DdiActionFeedback
from fleet.errors import BadRequest, DomainError, NotFound
from fleet.models import DdiActionStatus
from fleet.ops.metrics import DDI_FEEDBACK, FEEDBACK_BATCH
from fleet.settings import Settings
from fleet.software.batch import SoftwareChangeBatch
from fleet.software.policy import INSTALLATION_POLICY

log = logging.getLogger(__name__)

MAX_BATCH = 100
_FINISHING = ("closed", "canceled")


@dataclass
class Report:
    """One device's ``POST .../deploymentBase/{actionId}/feedback``. ``refusal`` is what the
    body earned (400/413/422), raised only after the token checks, as for a single request."""

    authorization: str | None
    tenant: str
    controller_id: str
    action_id: str
    ip: str | None
    feedback: DdiActionFeedback | None = None
    refusal: Exception | None = None  # why ``feedback`` is None
    answer: asyncio.Future[None] | None = field(default=None, repr=False)


async def _apply(
    session: AsyncSession,
    settings: Settings,
    reports: list[Report],
    *,
    gateway_token: str | None = None,
) -> list[BaseException | None]:
    """Run the reports in order in the session's transaction; answer each one's refusal.
    ``gateway_token``: the gateway token configured, for the reports a gateway makes."""
    identities: list[DeviceIdentity | DomainError] = list(
        await authenticate_with_actions(
            session,
            [None if gateway_token_of(r.authorization) else r.authorization for r in reports],
        )
    )
    for i, report in enumerate(reports):
        presented = gateway_token_of(report.authorization)
        if presented is not None:  # rare: a gateway speaking for its devices
            try:
                identities[i] = await authenticate_gateway(
                    session,
                    gateway_token,
                    presented,
                    report.controller_id,
                    register=False,
                    ip=report.ip,
                    with_next_action=True,
                )
            except DomainError as exc:
                identities[i] = exc
    finishing = [
        identity.next_action.id
        for report, identity in zip(reports, identities, strict=True)
        if isinstance(identity, DeviceIdentity)
        and identity.next_action is not None
        and report.feedback is not None
        and report.feedback.status.execution in _FINISHING
    ]
    # The batch's device_software changes are held until it is flushed below, before the
    # commit; the policy's rules load what they need for the finishing reports at once.
    batch = SoftwareChangeBatch()
    if finishing:
        await INSTALLATION_POLICY.prepare(session, finishing, batch)
    wrote = _track_writes(session)
    outcomes: list[BaseException | None] = []
    history: list[DdiActionStatus] = []
    for report, identity in zip(reports, identities, strict=True):
        wrote.clear()
        try:
            if not isinstance(identity, DeviceIdentity):
                raise identity
            if identity.token_id:
                await actions.check_controller(
                    session, settings, identity, report.tenant, report.controller_id
                )
            elif report.tenant.lower() != settings.tenant.lower():
                raise NotFound(f"Unknown tenant {report.tenant!r}")
            if report.feedback is None:  # the body was refused
                outcomes.append(report.refusal or BadRequest("A feedback body is required"))
                continue
            installation = await actions.current_installation(session, identity, report.action_id)
            entry: DdiActionStatus | None = await actions.apply_feedback(
                session,
                installation,
                report.feedback.status,
                report.ip,
                policy=INSTALLATION_POLICY,
                batch=batch,
            )
            if entry is not None:
                history.append(entry)
        except DomainError as exc:
            if wrote:
                raise _Spoiled(exc) from exc
            outcomes.append(exc)
        else:
            outcomes.append(None)
    wrote.clear()
    session.add_all(history)  # the action history of the applied reports, in one INSERT
    await batch.flush(session)
    return outcomes


class _Spoiled(Exception):
    """A report was refused after it had written: its writes cannot be kept, nor undone alone."""

    def __init__(self, refusal: DomainError) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


def _track_writes(session: AsyncSession) -> set[str]:
    """Answer a set that gets an entry whenever the session writes (cleared by the caller)."""
    wrote: set[str] = set()

    def on_execute(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            wrote.add("statement")

    def on_flush(_session: Session, _context: Any) -> None:
        wrote.add("flush")

    event.listen(session.sync_session, "do_orm_execute", on_execute)
    event.listen(session.sync_session, "after_flush", on_flush)
    return wrote


class FeedbackBatcher:
    """Collects the action feedback of concurrent requests and applies it in batches."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        gateway_token: str | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self.gateway_token = gateway_token
        self._queue: list[Report] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, report: Report) -> None:
        """Apply one report; return once it is committed, or raise what it earned."""
        loop = asyncio.get_running_loop()
        report.answer = loop.create_future()
        self._queue.append(report)
        if self._worker is None or self._worker.done():
            # The worker drains the queue and ends: nothing runs while no device reports.
            self._worker = loop.create_task(self._drain())
        await report.answer

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            # A request that went away before its turn never got an answer: the device
            # reports again, so its report is not applied now.
            batch = [r for r in batch if r.answer is not None and not r.answer.done()]
            try:
                outcomes = await self._run(batch)
            except Exception as exc:  # the database failed even for a lone report
                outcomes = [exc] * len(batch)
            except BaseException as exc:  # the worker is stopped: no later answer would come
                for report in [*batch, *self._queue]:
                    _answer(report, exc)
                self._queue = []
                raise
            if batch:
                FEEDBACK_BATCH.observe(len(batch))
            for report, outcome in zip(batch, outcomes, strict=True):
                DDI_FEEDBACK.labels("applied" if outcome is None else "refused").inc()
                _answer(report, outcome)

    async def _run(self, batch: list[Report]) -> list[BaseException | None]:
        if not batch:
            return []
        try:
            return await self._transaction(batch)
        except Exception:
            if len(batch) == 1:
                raise
            log.warning(
                "a batch of %d device reports failed; applying each alone",
                len(batch),
                exc_info=True,
            )
        outcomes: list[BaseException | None] = []
        for report in batch:
            try:
                outcomes.extend(await self._transaction([report]))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def _transaction(self, reports: list[Report]) -> list[BaseException | None]:
        async with self._sessionmaker() as session:
            try:
                outcomes = await _apply(
                    session, self._settings, reports, gateway_token=self.gateway_token
                )
            except _Spoiled as spoiled:
                await session.rollback()
                if len(reports) > 1:
                    raise  # applied alone, each report's refusal undoes only its own writes
                return [spoiled.refusal]
            except BaseException:
                await session.rollback()
                raise
            await commit_early(session, "feedback-batch")
        return outcomes


def _answer(report: Report, outcome: BaseException | None) -> None:
    if report.answer is None or report.answer.done():
        return
    if outcome is None:
        report.answer.set_result(None)
    elif isinstance(outcome, Exception):
        report.answer.set_exception(outcome)
    else:  # the worker itself was stopped (server shutdown)
        report.answer.set_exception(RuntimeError("the server stopped before applying the report"))
