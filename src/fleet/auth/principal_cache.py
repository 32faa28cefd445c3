"""A short per-process memory of login checks, dropped at once when accounts or logins change.

Every request re-checks its login session against the database (account active, role still
held, session not revoked). Within ``TTL_SECONDS`` the answer of that check is reused for the
same session id — but only while this worker receives the other workers' notifications, and it
is forgotten as soon as anything changes:

- any commit that changed a ``users`` row or an ``auth_sessions`` row (logout, switch of role,
  refresh-token reuse, role change, deactivation, password change, deletion; through the ORM
  or an ORM-enabled UPDATE/DELETE, in any session of the process — the CLI's too) clears this
  process's memory right after the commit, before the request answers, and publishes
  ``auth.changed`` on the cross-worker bus; the request answers only once that notification
  is sent, and every worker clears its memory when it arrives (milliseconds);
- a check that read the database while such a change committed is not remembered;
- a worker whose listener is down, or (re)connected since an entry was stored, does not use
  the memory at all; on SQLite (no cross-worker bus) nothing is remembered.

So a revocation takes effect at once in the worker that made it and, in the others, as soon as
PostgreSQL delivers the notification; were one lost anyway, no entry outlives ``TTL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from fleet.models import AuthSession, User

if TYPE_CHECKING:
    from fleet.devices_api.fanout import FanoutBus
    from fleet.events import Subscription

log = logging.getLogger(__name__)

TTL_SECONDS = 2.0
MAX_ENTRIES = 10_000
TOPIC = "auth.changed"
_WATCHED = (User, AuthSession)
_WATCHED_TABLES = frozenset(cls.__tablename__ for cls in _WATCHED)
_CHANGED = "fleet_auth_changed"
_ANNOUNCE = "fleet_auth_announce"


@dataclass(frozen=True)
class CheckedLogin:
    """What the login check read: the session's user and active role."""

    user_id: int
    username: str
    email: str | None
    role: str
    roles: tuple[str, ...]
    is_active: bool
    active_role: str
    revoked: bool


class PrincipalCache:
    """Remembered login checks of this process, keyed by login session id."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, int, CheckedLogin]] = {}
        self.epoch = 0  # bumped by every change: a check that saw an older epoch is not kept
        self._bus: FanoutBus | None = None
        self._sub: Subscription | None = None
        self._consumer: asyncio.Task[None] | None = None

    # -- use ---------------------------------------------------------------------------------
    def _live(self) -> int | None:
        """The listener's connection number while notifications arrive, else ``None``."""
        bus, sub = self._bus, self._sub
        if bus is None or sub is None or sub.dropped or not bus.listening:
            return None
        return bus.listen_count

    def get(self, session_id: str) -> CheckedLogin | None:
        live = self._live()
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        stored_at, listen_count, login = entry
        if live is None or listen_count != live or time.monotonic() - stored_at > TTL_SECONDS:
            self._entries.pop(session_id, None)
            return None
        return login

    def put(self, session_id: str, login: CheckedLogin, epoch: int) -> None:
        """Remember a check read at ``epoch``, unless something changed since."""
        live = self._live()
        if live is None or epoch != self.epoch:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[session_id] = (time.monotonic(), live, login)

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()

    # -- cross-worker ------------------------------------------------------------------------
    async def start(self, bus: Any) -> None:
        """Listen for other workers' changes (PostgreSQL only; elsewhere nothing is kept)."""
        from fleet.devices_api.fanout import FanoutBus

        if not isinstance(bus, FanoutBus) or not bus.cross_process:
            return
        self._bus = bus
        self._sub = bus.subscribe({TOPIC})
        self._consumer = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self) -> None:
        sub = self._sub
        assert sub is not None
        while True:
            await sub.queue.get()
            self.clear()

    async def stop(self) -> None:
        self.clear()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None
        if self._bus is not None and self._sub is not None:
            self._bus.unsubscribe(self._sub)
        self._bus = self._sub = None

    async def announce(self) -> None:
        """Tell every worker (this one too) that logins or accounts changed."""
        self.clear()
        if self._bus is not None:
            await self._bus.publish(TOPIC, TOPIC, {})


# Every app's cache in this process: the ORM events below reach them from any session.
_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def new_cache() -> PrincipalCache:
    """Create an app's cache, fed by the changes of every session in the process."""
    cache = PrincipalCache()
    _caches.add(cache)
    return cache


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, _WATCHED):
            session.info[_CHANGED] = True
            return


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        state.session.info[_CHANGED] = True


async def _announce_all(caches: list[PrincipalCache]) -> None:
    for cache in caches:
        try:
            await cache.announce()
        except Exception:  # the bus logs; the local memory is already cleared
            log.exception("could not announce a change of logins")


def _after_commit(session: Session) -> None:
    if not session.info.pop(_CHANGED, False):
        return
    caches = list(_caches)
    for cache in caches:
        cache.clear()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a synchronous session (the CLI): notify the servers directly
        _notify_sync(session)
        return
    session.info[_ANNOUNCE] = loop.create_task(_announce_all(caches))


def _notify_sync(session: Session) -> None:
    from fleet.devices_api.fanout import notify_sync

    bind = session.get_bind()
    if isinstance(bind, Connection):
        bind = bind.engine
    if bind.dialect.name == "postgresql":
        try:
            notify_sync(bind, [TOPIC], TOPIC, {})
        except Exception:
            log.exception("could not tell the servers that logins changed")


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "do_orm_execute", _do_orm_execute)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_soft_rollback", lambda session, _tx: _after_rollback(session))


async def announced(info: dict[str, Any]) -> None:
    """After a request's commit: wait until its change of logins has been published."""
    task = info.pop(_ANNOUNCE, None)
    if task is not None:
        await task
