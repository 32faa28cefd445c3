"""Live events across server worker processes.

On PostgreSQL every publish goes through ``NOTIFY fleet_events`` and each worker that has
WebSocket subscribers ``LISTEN``s and hands the message to its own subscribers, so a client on
worker A sees what a request on worker B published (including worker A's own publishes: there is
one path for every message). A message too big for one NOTIFY (8000 bytes) is cut into pieces
sent in one transaction (PostgreSQL delivers them together and in order); each piece carries a
small header with the topics, so a worker without subscribers for them skips it unread. On
SQLite (one machine, usually one worker) delivery stays in-process.
Slow subscribers are dropped by the base bus, never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fleet import dialect
from fleet.clock import utcnow
from fleet.events import EventBus, Subscription

log = logging.getLogger(__name__)

CHANNEL = "fleet_events"
PIECE = 7000  # PostgreSQL refuses NOTIFY payloads of 8000 bytes; the header needs the rest
MAX_PARTIAL = 1000


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _payloads(topic_list: list[str], message: dict[str, Any]) -> list[str]:
    body = _dumps(message)
    pieces = [body[i : i + PIECE] for i in range(0, len(body), PIECE)] or [""]
    ident = uuid.uuid4().hex
    return [
        _dumps({"id": ident, "part": n, "of": len(pieces), "topics": topic_list}) + "\n" + piece
        for n, piece in enumerate(pieces)
    ]


def _notify_sql(payloads: list[str]) -> tuple[str, dict[str, str]]:
    params = {"channel": CHANNEL, **{f"p{n}": p for n, p in enumerate(payloads)}}
    calls = ", ".join(f"pg_notify(:channel, :p{n})" for n in range(len(payloads)))
    return f"SELECT {calls}", params


def notify_sync(engine: Engine, topics: list[str], event: str, data: Any) -> None:
    """Publish from a synchronous program (the CLI) to the servers' workers (PostgreSQL)."""
    message = {"event": event, "data": data, "ts": utcnow().isoformat()}
    sql, params = _notify_sql(_payloads(list(dict.fromkeys(topics)), message))
    with engine.connect() as conn:
        conn.execute(text(sql), params)
        conn.commit()


class FanoutBus(EventBus):
    """An ``EventBus`` whose publishes reach the subscribers of every worker process."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine
        self.cross_process = dialect.is_postgres(engine)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._closed = False
        self._partial: dict[str, list[str | None]] = {}
        self.listen_count = 0  # connections the listener has made: a new one may have missed events

    # -- publishing -------------------------------------------------------------------------
    async def publish(self, topic: str, event: str, data: Any) -> dict[str, Any]:
        """Publish an event on one topic to every worker's subscribers."""
        return await self.publish_many([topic], event, data)

    async def publish_many(self, topics: Iterable[str], event: str, data: Any) -> dict[str, Any]:
        """Publish one event on several topics (one NOTIFY on PostgreSQL)."""
        topic_list = list(dict.fromkeys(topics))
        message = {"event": event, "data": data, "ts": utcnow().isoformat()}
        if not self.cross_process:
            for topic in topic_list:
                self.deliver(topic, message)
            return message
        sql, params = _notify_sql(_payloads(topic_list, message))
        try:
            async with self._engine.connect() as conn:
                # Live events are ephemeral: their commit need not wait for the disk.
                await conn.execute(text("SET LOCAL synchronous_commit TO off"))
                await conn.execute(text(sql), params)
                await conn.commit()
        except Exception:
            # Live events are best effort: a lost notification must not fail the request
            # (a device's poll, a telemetry batch) that caused it.
            log.exception("could not publish %s on %s", event, ", ".join(topic_list))
        return message

    # -- subscribing ------------------------------------------------------------------------
    def subscribe(self, topics: set[str]) -> Subscription:
        """Register a subscriber; on PostgreSQL this worker starts listening if it was not."""
        self._ensure_listener()
        return super().subscribe(topics)

    def remove_topic(self, sub: Subscription, topic: str) -> None:
        """Stop sending one topic to a subscriber."""
        sub.topics.discard(topic)
        subs = self._subs.get(topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[topic]

    @property
    def listening(self) -> bool:
        """Whether this worker is receiving the other workers' events right now."""
        return self._listening.is_set() and self._listener is not None and not self._listener.done()

    async def ready(self) -> None:
        """Wait until this worker receives other workers' events (no-op on SQLite)."""
        if not self.cross_process:
            return
        self._ensure_listener()
        async with asyncio.timeout(10):
            await self._listening.wait()

    def _ensure_listener(self) -> None:
        if not self.cross_process or self._closed:
            return
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def _conninfo(self) -> str:
        url = dialect.libpq_url(self._engine.url)
        return url.render_as_string(hide_password=False)

    async def _listen(self) -> None:
        while not self._closed:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listen_count += 1
                    self._listening.set()
                    async for note in conn.notifies():
                        await self._on_notify(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event listener lost its connection; reconnecting")
                self._listening.clear()
                await asyncio.sleep(1.0)

    async def _on_notify(self, payload: str) -> None:
        head, _, piece = payload.partition("\n")
        try:
            header = json.loads(head)
            topics = [t for t in header["topics"] if self.has_subscribers(t)]
            ident, part, count = str(header["id"]), int(header["part"]), int(header["of"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed event notification")
            return
        if not topics:
            return
        if count > 1:
            parts = self._partial.setdefault(ident, [None] * count)
            if len(self._partial) > MAX_PARTIAL:  # forget the oldest incomplete messages
                self._partial.pop(next(iter(self._partial)))
            if not 0 <= part < len(parts):
                return
            parts[part] = piece
            if any(p is None for p in parts):
                return
            del self._partial[ident]
            piece = "".join(p or "" for p in parts)
        try:
            message = json.loads(piece)
        except ValueError:
            log.warning("ignoring an undecodable event")
            return
        for topic in topics:
            self.deliver(topic, message)

    def has_subscribers(self, topic: str) -> bool:
        """Tell whether this worker has a subscriber for ``topic``."""
        return bool(self._subs.get(topic))

    # -- housekeeping -----------------------------------------------------------------------
    async def close(self) -> None:
        """Stop listening."""
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
