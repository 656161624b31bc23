"""Resuming after a crash: what memory says about a replayed message (not stored, stored and
unanswered, or answered: the reply was stored but may never have reached Telegram), and which
messages its reply had shown while streaming, so the full reply replaces that fragment."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlmodel import col

from anima.core.messages import ConversationKey
from anima.errors import MemoryStoreError
from anima.memory.models import Conversation, Message, User, primary
from anima.memory.store import MemoryStore

log = logging.getLogger(__name__)
PLATFORM = "telegram"


@dataclass(frozen=True)
class Remembered:
    stored: bool  # the person's message is in memory
    reply: str | None = None  # the character's stored reply to it, if it got that far


async def remembered(memory: MemoryStore, key: ConversationKey, message_id: str) -> Remembered:
    """Look the message up by its platform id in its conversation, and the turn that followed it."""

    def work(conn: Connection) -> Remembered:
        said = conn.execute(
            select(primary(Message.id), col(Message.conversation_id))
            .join(Conversation, primary(Conversation.id) == col(Message.conversation_id))
            .join(User, primary(User.id) == col(Conversation.user_id))
            .where(
                col(User.platform) == key.platform,
                col(User.platform_user_id) == key.user_id,
                col(Conversation.platform) == key.platform,
                col(Conversation.chat_id) == key.chat_id,
                col(Conversation.character_id) == key.character_id,
                col(Message.role) == "user",
                col(Message.platform_message_id) == message_id,
            )
            .order_by(primary(Message.id).desc())
            .limit(1)
        ).first()
        if said is None:
            return Remembered(stored=False)
        after = conn.execute(
            select(col(Message.role), col(Message.content))
            .where(col(Message.conversation_id) == said[1], primary(Message.id) > said[0])
            .order_by(primary(Message.id))
            .limit(1)
        ).first()
        reply = after[1] if after is not None and after[0] == "assistant" else None
        return Remembered(stored=True, reply=reply)

    return await memory.run(work)


class PartialReplies:
    """The messages a streaming reply has shown so far, per chat and person (their replies come one
    at a time), stored when streaming adds a message: one write per streamed reply, usually."""

    def __init__(self, memory: MemoryStore, bot_id: int) -> None:
        self.memory = memory
        self.key = f"streaming:{bot_id}"  # several bots can share a private chat id

    def recorder(self, chat_id: int, user_id: int, update_id: int) -> Callable[[list[int]], Awaitable[None]]:
        async def record(message_ids: list[int]) -> None:
            value = {"update": update_id, "messages": message_ids}
            try:
                await self.memory.set_preference(PLATFORM, str(chat_id), self.key, value, str(user_id))
            except MemoryStoreError as exc:  # costs only a fragment left in the chat after a crash
                log.warning("could not remember a streaming reply's messages: %s", exc)

        return record

    async def shown(self, chat_id: int, user_id: int, update_id: int) -> list[int]:
        """The messages the reply to `update_id` had shown when the last run ended."""
        stored = await self.memory.get_preference(PLATFORM, str(chat_id), self.key, str(user_id))
        if not stored or stored.get("update") != update_id:
            return []
        return [int(message_id) for message_id in stored["messages"]]
