"""What memory says about a message replayed after a crash: not stored, stored and unanswered, or
answered (the reply was stored but may never have reached Telegram)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from anima.core.messages import ConversationKey
from anima.memory.models import Conversation, Message, User
from anima.memory.store import MemoryStore


@dataclass(frozen=True)
class Remembered:
    stored: bool  # the person's message is in memory
    reply: str | None = None  # the character's stored reply to it, if it got that far


async def remembered(memory: MemoryStore, key: ConversationKey, message_id: str) -> Remembered:
    """Look the message up by its platform id in its conversation, and the turn that followed it."""

    def work(conn: Connection) -> Remembered:
        said = conn.execute(
            select(Message.id, Message.conversation_id)
            .join(Conversation, Conversation.id == Message.conversation_id)  # type: ignore[arg-type]
            .join(User, User.id == Conversation.user_id)  # type: ignore[arg-type]
            .where(
                User.platform == key.platform,
                User.platform_user_id == key.user_id,
                Conversation.platform == key.platform,
                Conversation.chat_id == key.chat_id,
                Conversation.character_id == key.character_id,
                Message.role == "user",
                Message.platform_message_id == message_id,
            )
            .order_by(Message.id.desc())  # type: ignore[union-attr]
            .limit(1)
        ).first()
        if said is None:
            return Remembered(stored=False)
        after = conn.execute(
            select(Message.role, Message.content)
            .where(Message.conversation_id == said[1], Message.id > said[0])  # type: ignore[operator]
            .order_by(Message.id)  # type: ignore[arg-type]
            .limit(1)
        ).first()
        reply = after[1] if after is not None and after[0] == "assistant" else None
        return Remembered(stored=True, reply=reply)

    return await memory.run(work)
