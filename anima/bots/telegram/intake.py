"""Durable intake: an update is stored in the inbox before Telegram is told that it arrived.

PTB's Updater, polling, puts every fetched update into the Application's queue and confirms the
batch with its next getUpdates (a higher offset); its webhook handler puts the update into the
queue and then answers 200. Both await `put` first, so a queue whose `put` claims the update in the
inbox makes both durable: a kill -9 loses nothing Telegram stopped holding for us. A redelivered
update (claimed already: answered, or waiting to be replayed) is dropped at the door. At start,
`replay` queues what was claimed but never answered, before anything new arrives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from telegram import Bot, Update
from telegram.error import TelegramError

from anima.errors import MemoryStoreError
from anima.memory.inbox import Delivery, Inbox
from anima.memory.store import MemoryStore

log = logging.getLogger(__name__)

PLATFORM = "telegram"
# Telegram keeps an update for 24 h; one unanswered for longer is abandoned (it also stops an update
# that fails at every start from being replayed forever).
REPLAY_WITHIN = timedelta(hours=24)


class NotStored(TelegramError):
    """The inbox could not store an update. Raised as a TelegramError on purpose: PTB's polling loop
    then retries the same offset with backoff (nothing is confirmed), and a webhook answers 500, so
    Telegram delivers the update again."""


class DurableQueue(asyncio.Queue[object]):
    """The Application's update queue, claiming each update in the inbox before it is queued."""

    def __init__(self, memory: MemoryStore) -> None:
        super().__init__()
        self.inbox = Inbox(memory, owner=f"{socket.gethostname()}:{os.getpid()}")
        self.bot_id = ""  # known once getMe answered; nothing arrives before that

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            try:
                first = await self.inbox.claim(self._delivery(item))
            except MemoryStoreError as exc:
                raise NotStored(f"update {item.update_id} not stored, it will come again: {exc}") from exc
            if not first:
                log.info("update %s came again; it was handled or is being replayed", item.update_id)
                return
        await super().put(item)

    async def replay(self, bot: Bot) -> list[int]:
        """Queue the updates claimed but never answered (a crash came between), oldest first."""
        replayed: list[int] = []
        oldest = datetime.now(UTC) - REPLAY_WITHIN
        for delivery in await self.inbox.pending(PLATFORM, self.bot_id):
            if delivery.received_at is not None and delivery.received_at < oldest:
                log.warning("update %s is older than a day; not answering it", delivery.delivery_id)
                await self.inbox.answered(PLATFORM, self.bot_id, delivery.delivery_id)
                continue
            update = Update.de_json(json.loads(delivery.payload), bot)
            self.put_nowait(update)  # not `put`: it is claimed already
            replayed.append(update.update_id)
        if replayed:
            log.warning("replaying %d updates received before the last stop", len(replayed))
        return replayed

    async def turn(self, update: Update, bot: Bot) -> list[Update] | None:
        """For a process holding the update's conversation lock (several processes on one database):
        None when the update is answered already; else the earlier updates of the same chat and
        person still unanswered, oldest first, which this turn answers before its own.

        Updates are claimed at the door by whichever process Telegram (or a load balancer) gave
        them to, and answered and marked answered under the conversation's lock: an unanswered one
        older than this update is waiting for another process's turn, or was left by one that died."""
        pending = await self.inbox.pending(PLATFORM, self.bot_id)
        if not any(int(d.delivery_id) == update.update_id for d in pending):
            return None
        earlier: list[Update] = []
        for delivery in pending:
            if int(delivery.delivery_id) >= update.update_id:
                continue
            other = Update.de_json(json.loads(delivery.payload), bot)
            if _same_conversation(other, update):
                earlier.append(other)
        return sorted(earlier, key=lambda u: u.update_id)

    async def answered(self, update_id: int) -> None:
        await self.inbox.answered(PLATFORM, self.bot_id, str(update_id))

    def _delivery(self, update: Update) -> Delivery:
        payload = json.dumps(update.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return Delivery(PLATFORM, self.bot_id, str(update.update_id), payload)


def _same_conversation(other: Update, update: Update) -> bool:
    """A text message (not a command) from the same person in the same chat."""
    mine, theirs = update.message, other.message
    return (
        mine is not None
        and theirs is not None
        and theirs.text is not None
        and not theirs.text.startswith("/")
        and theirs.chat.id == mine.chat.id
        and theirs.from_user is not None
        and mine.from_user is not None
        and theirs.from_user.id == mine.from_user.id
    )
