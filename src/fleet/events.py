"""Live events (``{"event", "data", "ts"}``) published to topic subscribers.

This in-process bus is what the WebSocket endpoint reads from. Publishing never blocks: a
subscriber whose queue is full is dropped rather than slowing the others.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fleet.clock import utcnow
from fleet.ops.metrics import WS_EVENTS_DROPPED

QUEUE_SIZE = 1000


@dataclass(eq=False)
class Subscription:
    topics: set[str]
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )
    dropped: bool = False


class EventBus:
    """Fan events out to the subscribers of their topics."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, topics: set[str]) -> Subscription:
        """Register a subscriber for some topics."""
        sub = Subscription(topics=set(topics))
        for topic in sub.topics:
            self._subs[topic].add(sub)
        return sub

    def add_topic(self, sub: Subscription, topic: str) -> None:
        """Subscribe an existing subscriber to one more topic."""
        sub.topics.add(topic)
        self._subs[topic].add(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber."""
        for topic in sub.topics:
            self._subs[topic].discard(sub)
            if not self._subs[topic]:
                del self._subs[topic]

    def deliver(self, topic: str, message: dict[str, Any]) -> int:
        """Hand a message to this process's subscribers of ``topic``; answers how many got it."""
        delivered = 0
        for sub in list(self._subs.get(topic, ())):
            try:
                sub.queue.put_nowait(message)
                delivered += 1
            except asyncio.QueueFull:
                WS_EVENTS_DROPPED.inc()
                sub.dropped = True
                self.unsubscribe(sub)
        return delivered

    async def publish(self, topic: str, event: str, data: Any) -> dict[str, Any]:
        """Publish an event on a topic; answers the message as sent."""
        message = {"event": event, "data": data, "ts": utcnow().isoformat()}
        self.deliver(topic, message)
        return message
