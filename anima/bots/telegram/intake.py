"""Durable intake: an update is stored in the inbox before Telegram is told that it arrived.

PTB's Updater, polling, puts every fetched update into the Application's queue and confirms the
batch with its next getUpdates (a higher offset); its webhook handler puts the update into the
queue and then answers 200. Both await `put` first, so a queue whose `put` claims the update in the
inbox (`Conversations.claim`) makes both durable: a kill -9 loses nothing Telegram stopped holding
for us. A redelivered update (claimed already) is dropped at the door. At start, `replay` queues
what was claimed but never answered, before anything new arrives.
"""

from __future__ import annotations

import asyncio
import json
import logging

from telegram import Bot, Update
from telegram.error import TelegramError

from anima.bots.telegram.messages import PLATFORM
from anima.core.conversations import Conversations
from anima.errors import MemoryStoreError
from anima.memory.inbox import Delivery

log = logging.getLogger(__name__)


class NotStored(TelegramError):
    """The inbox could not store an update. Raised as a TelegramError on purpose: PTB's polling loop
    then retries the same offset with backoff (nothing is confirmed), and a webhook answers 500, so
    Telegram delivers the update again."""


class DurableQueue(asyncio.Queue[object]):
    """The Application's update queue, claiming each update in the inbox before it is queued."""

    def __init__(self, conversations: Conversations) -> None:
        super().__init__()
        self.conversations = conversations
        self.bot_id = ""  # known once getMe answered; nothing arrives before that

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            try:
                first = await self.conversations.claim(self.delivery(item))
            except MemoryStoreError as exc:
                raise NotStored(f"update {item.update_id} not stored, it will come again: {exc}") from exc
            if not first:
                log.info("update %s came again; it was handled or is being replayed", item.update_id)
                return
        await super().put(item)

    async def replay(self, bot: Bot) -> list[int]:
        """Queue the updates claimed but never answered (a crash came between), oldest first."""
        replayed = []
        for delivery in await self.conversations.unanswered(PLATFORM, self.bot_id):
            update = Update.de_json(json.loads(delivery.payload), bot)
            self.put_nowait(update)  # not `put`: it is claimed already
            replayed.append(update.update_id)
        if replayed:
            log.warning("replaying %d updates received before the last stop", len(replayed))
        return replayed

    def delivery(self, update: Update) -> Delivery:
        payload = json.dumps(update.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return Delivery(PLATFORM, self.bot_id, str(update.update_id), payload)
