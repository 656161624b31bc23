"""Durable intake for a platform library that puts each event into a queue before it confirms it.

PTB's Updater, polling, puts every fetched update into the Application's queue and confirms the
batch with its next getUpdates; its webhook handler puts the update into the queue and then answers
200. A queue whose `put` claims the event in the inbox first (`Conversations.claim`) makes both
durable: a kill -9 loses nothing the platform stopped holding for us. A redelivered event (claimed
already) is dropped at the door. At start, `replay` queues what was claimed but never answered,
before anything new arrives. The platform's subclass says only how its events are stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from anima.core.conversations import Conversations
from anima.errors import MemoryStoreError
from anima.memory.inbox import Delivery

log = logging.getLogger(__name__)
Event = TypeVar("Event")


class ClaimingQueue(asyncio.Queue[object], ABC, Generic[Event]):
    """A library's event queue, claiming each `event_type` event in the inbox before it is queued
    (anything else the library queues passes as it is)."""

    def __init__(self, conversations: Conversations, platform: str, event_type: type[Event]) -> None:
        super().__init__()
        self.conversations = conversations
        self.platform = platform
        self.event_type = event_type
        self.bot_id = ""  # known once the platform said who the bot is; nothing arrives before that

    async def put(self, item: object) -> None:
        if isinstance(item, self.event_type):
            delivery = self.delivery(item)
            try:
                first = await self.conversations.claim(delivery)
            except MemoryStoreError as exc:
                raise self.not_stored(delivery, exc) from exc
            if not first:
                what = f"{self.platform} event {delivery.delivery_id}"
                log.info("%s came again; it was handled or is being replayed", what)
                return
        await super().put(item)

    async def replay(self) -> list[str]:
        """Queue the events claimed but never answered (a crash came between), oldest first."""
        replayed = []
        for delivery in await self.conversations.unanswered(self.platform, self.bot_id):
            self.put_nowait(self.event(delivery))  # not `put`: it is claimed already
            replayed.append(delivery.delivery_id)
        if replayed:
            log.warning("replaying %d %s events received before the last stop", len(replayed), self.platform)
        return replayed

    def delivery(self, event: Event) -> Delivery:
        """The event as the inbox stores it: its id and its JSON, compact."""
        payload = json.dumps(self.to_json(event), ensure_ascii=False, separators=(",", ":"))
        return Delivery(self.platform, self.bot_id, self.event_id(event), payload)

    def event(self, delivery: Delivery) -> Event:
        """A stored event as the library's object again."""
        return self.from_json(json.loads(delivery.payload))

    @abstractmethod
    def event_id(self, event: Event) -> str:
        """The platform's id of the event (it grows with each event: see `Conversations`)."""

    @abstractmethod
    def to_json(self, event: Event) -> dict[str, Any]: ...

    @abstractmethod
    def from_json(self, data: dict[str, Any]) -> Event: ...

    @abstractmethod
    def not_stored(self, delivery: Delivery, exc: MemoryStoreError) -> Exception:
        """What to raise when the inbox cannot store the event: an error the library answers by
        delivering the event again (a retried getUpdates, a webhook's 500)."""
