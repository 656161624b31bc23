"""Durable intake: PTB's Application queue claims each update in the inbox before it is queued
(anima/core/intake.py), so Telegram is told an update arrived only once it is stored."""

from __future__ import annotations

from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError

from anima.bots.telegram.messages import PLATFORM
from anima.core.conversations import Conversations
from anima.core.intake import ClaimingQueue
from anima.errors import MemoryStoreError
from anima.memory.inbox import Delivery


class NotStored(TelegramError):
    """The inbox could not store an update. Raised as a TelegramError on purpose: PTB's polling loop
    then retries the same offset with backoff (nothing is confirmed), and a webhook answers 500, so
    Telegram delivers the update again."""


class DurableQueue(ClaimingQueue[Update]):
    """The Application's update queue."""

    def __init__(self, conversations: Conversations) -> None:
        super().__init__(conversations, PLATFORM, Update)
        self.bot: Bot | None = None  # what stored updates are read back with (set with bot_id)

    def event_id(self, event: Update) -> str:
        return str(event.update_id)

    def to_json(self, event: Update) -> dict[str, Any]:
        return event.to_dict()

    def from_json(self, data: dict[str, Any]) -> Update:
        return Update.de_json(data, self.bot)

    def not_stored(self, delivery: Delivery, exc: MemoryStoreError) -> Exception:
        return NotStored(f"update {delivery.delivery_id} not stored, it will come again: {exc}")
