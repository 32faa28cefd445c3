"""Short per-process memories of read results, dropped at once when their tables change.

A ``Memo`` remembers values (a login check, a list's total) for at most ``ttl`` seconds, and
forgets all of them as soon as a commit changes one of the tables it watches:

- every session of the process is watched (SQLAlchemy ORM events): a flush that adds, changes
  or deletes a row of a watched table, or an ORM-enabled INSERT/UPDATE/DELETE on one, marks the
  session; right after its commit this process's memories of those tables are cleared, and
  ``<topic>`` is published on the cross-worker bus so every worker clears its own when the
  notification arrives (a request's session waits until the notification is sent, so this
  happens before its answer; a synchronous program such as the CLI notifies directly);
- a value read while such a change committed is not remembered (``epoch``);
- nothing is remembered by a worker whose listener is down or has reconnected since the value
  was stored (it may have missed notifications), nor without the bus (SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from fleet import dialect

if TYPE_CHECKING:
    from fleet.devices_api.fanout import FanoutBus
    from fleet.events import Subscription

log = logging.getLogger(__name__)

V = TypeVar("V")
MAX_ENTRIES = 10_000
_CHANGED = "fleet_memo_changed"
_ANNOUNCE = "fleet_memo_announce"

# topic -> (watched tables, whether new rows count as a change)
_TOPICS: dict[str, tuple[frozenset[str], bool]] = {}
_memos: dict[str, weakref.WeakSet[Memo[Any]]] = {}


def watch(topic: str, tables: frozenset[str], *, inserts: bool = True) -> None:
    """Declare a topic: commits that change ``tables`` clear the memos of ``topic``."""
    _TOPICS[topic] = (tables, inserts)
    _memos.setdefault(topic, weakref.WeakSet())


class Memo(Generic[V]):
    """One app's memory for one topic, keyed by anything hashable."""

    def __init__(self, topic: str, ttl: float) -> None:
        if topic not in _TOPICS:
            raise ValueError(f"unknown topic {topic}")
        self.topic, self.ttl = topic, ttl
        self._entries: dict[Hashable, tuple[float, int, V]] = {}
        self.epoch = 0  # bumped by every change: a value read at an older epoch is not kept
        self._bus: FanoutBus | None = None
        self._sub: Subscription | None = None
        self._consumer: asyncio.Task[None] | None = None
        # reads under way, by key: (the epoch they started at, the read)
        self._loading: dict[Hashable, tuple[int, asyncio.Future[V | None]]] = {}
        _memos[topic].add(self)

    # -- use ---------------------------------------------------------------------------------
    def _live(self) -> int | None:
        """The listener's connection number while notifications arrive, else ``None``."""
        bus, sub = self._bus, self._sub
        if bus is None or sub is None or sub.dropped or not bus.listening:
            return None
        return bus.listen_count

    def get(self, key: Hashable) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, listen_count, value = entry
        if listen_count != self._live() or time.monotonic() - stored_at > self.ttl:
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: Hashable, value: V, epoch: int) -> None:
        """Remember a value read at ``epoch``, unless something changed since."""
        live = self._live()
        if live is None or epoch != self.epoch:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), live, value)

    async def load(self, key: Hashable, read: Callable[[], Awaitable[V | None]]) -> V | None:
        """Answer the remembered value, or read it once for everyone asking at the same moment.

        When a remembered value expires under load, every request in flight would miss it at
        once and run the same read (a herd queueing for database connections). Here the first
        one reads and the others wait for its answer, which is then remembered (unless a change
        arrived meanwhile). Nobody joins a read that started before a change: after a change
        the next request reads anew. A read that fails fails for all who waited on it; ``None``
        is answered but not remembered.
        """
        found = self.get(key)
        if found is not None:
            return found
        under_way = self._loading.get(key)
        if under_way is None or under_way[0] != self.epoch:
            epoch = self.epoch
            task = asyncio.ensure_future(read())
            under_way = (epoch, task)
            self._loading[key] = under_way

            def done(finished: asyncio.Future[V | None]) -> None:
                if self._loading.get(key) is under_way:
                    del self._loading[key]
                if not finished.cancelled() and finished.exception() is None:
                    value = finished.result()
                    if value is not None:
                        self.put(key, value, epoch)

            task.add_done_callback(done)
        # One waiter that gives up (a client gone) does not cancel the read for the others.
        return await asyncio.shield(under_way[1])

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()
        self._loading.clear()

    def detach(self) -> None:
        """Stop receiving this process's changes directly (only the bus reaches it then)."""
        _memos[self.topic].discard(self)

    # -- cross-worker ------------------------------------------------------------------------
    async def start(self, bus: Any) -> None:
        """Listen for other workers' changes (PostgreSQL only; elsewhere nothing is kept)."""
        from fleet.devices_api.fanout import FanoutBus

        if not isinstance(bus, FanoutBus) or not bus.cross_process:
            return
        self._bus = bus
        self._sub = bus.subscribe({self.topic})
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
        """Tell every worker (this one too) that the watched tables changed."""
        self.clear()
        if self._bus is not None:
            await self._bus.publish(self.topic, self.topic, {})


def _mark(session: Session, table: str | None, inserted: bool) -> None:
    for topic, (tables, inserts) in _TOPICS.items():
        if table in tables and (inserts or not inserted):
            session.info.setdefault(_CHANGED, set()).add(topic)


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    changes = ((session.new, True), (session.dirty, False), (session.deleted, False))
    for objects, inserted in changes:
        for obj in objects:
            _mark(session, getattr(getattr(obj, "__table__", None), "name", None), inserted)


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    _mark(state.session, table, state.is_insert)


async def _announce_all(memos: list[Memo[Any]]) -> None:
    for memo in memos:
        try:
            await memo.announce()
        except Exception:  # the bus logs; the local memories are already cleared
            log.exception("could not announce a change of %s", memo.topic)


def _after_commit(session: Session) -> None:
    topics: set[str] = session.info.pop(_CHANGED, set())
    if not topics:
        return
    memos = [memo for topic in topics for memo in list(_memos.get(topic, ()))]
    for memo in memos:
        memo.clear()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a synchronous session (the CLI): notify the servers directly
        _notify_sync(session, sorted(topics))
        return
    # One memo per topic and bus is enough to reach every worker.
    senders: dict[tuple[str, int], Memo[Any]] = {}
    for memo in memos:
        if memo._bus is not None:
            senders.setdefault((memo.topic, id(memo._bus)), memo)
    if senders:
        tasks = session.info.setdefault(_ANNOUNCE, [])
        tasks.append(loop.create_task(_announce_all(list(senders.values()))))


def _notify_sync(session: Session, topics: list[str]) -> None:
    from fleet.devices_api.fanout import notify_sync

    try:
        bind = session.get_bind()
        if isinstance(bind, Connection):
            bind = bind.engine
        if dialect.is_postgres(bind):
            for topic in topics:
                notify_sync(bind, [topic], topic, {})
    except Exception:
        log.exception("could not tell the servers that %s changed", ", ".join(topics))


def notify_all_sync(engine: Any) -> None:
    """Tell the servers that every watched table changed (after a restore of the database).

    Only the topics declared so far are known: the caller imports the modules that declare them
    (a CLI process may not have imported them otherwise)."""
    if not dialect.is_postgres(engine):
        return
    from fleet.devices_api.fanout import notify_sync

    for topic in sorted(_TOPICS):
        try:
            notify_sync(engine, [topic], topic, {})
        except Exception:
            log.exception("could not tell the servers that %s changed", topic)


def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_CHANGED, None)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "do_orm_execute", _do_orm_execute)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_soft_rollback", _after_rollback)


async def announced(info: dict[str, Any]) -> None:
    """After a request's commit: wait until its changes have been published to every worker."""
    for task in info.pop(_ANNOUNCE, []):
        await task
