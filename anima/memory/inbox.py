"""The inbox: every platform event is stored before the platform is told it arrived.

An adapter calls `claim` first (before confirming a Telegram update, before answering a webhook with
200, before acting on a Discord message) and `answered` once the reply went out. A second delivery
of the same event (redelivered after a crash, retried by a webhook, seen by two processes) finds its
row and is skipped. After a crash, `pending` lists what was claimed but never answered: the work to
resume at start. Platform-neutral: payloads are the platform's JSON, decoded by its adapter.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Insert, delete, select, update
from sqlalchemy.dialects import sqlite
from sqlmodel import col

from anima.core.messages import ConversationKey
from anima.memory.models import Conversation, InboxItem, Message, User, as_utc, primary, table_of, utcnow
from anima.memory.store import INBOX_RETENTION, MemoryStore

KEEP_ANSWERED = INBOX_RETENTION
PRUNE_EVERY_S = 600.0  # how often claiming an event also deletes those past their retention


@functools.cache
def _insert_new(dialect: str) -> Insert:
    """One statement that skips a repeat, built once: cheaper than a savepoint and a caught
    IntegrityError. PostgreSQL's dialect (~2.5 MB of modules) loads only where it is used."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table_of(InboxItem)).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table_of(InboxItem)).on_conflict_do_nothing()
    raise KeyError(dialect)


@dataclass(frozen=True)
class Delivery:
    """One platform event as stored: its id on the platform and its raw payload (JSON text)."""

    platform: str
    bot_id: str
    delivery_id: str
    payload: str
    received_at: datetime | None = None


@dataclass(frozen=True)
class Remembered:
    """What memory holds of a message received before a crash, to resume its turn."""

    stored: bool  # the person's message is in memory
    reply: str | None = None  # the character's stored reply to it, if the turn got that far


class Inbox:
    def __init__(self, memory: MemoryStore, owner: str = "") -> None:
        self.memory = memory
        self.owner = owner  # which process claimed a row (for several `anima run` on one database)
        self._next_prune = 0.0  # the first claim prunes: a restart after a long stop catches up

    async def claim(self, delivery: Delivery) -> bool:
        """Store the event; True when this call stored it first, False when it was already there.
        Now and then (every PRUNE_EVERY) it first deletes answered events past their retention, so
        raw events are never kept longer than that, whichever platform wrote them."""
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_S
            await self.prune()
        values = {
            "platform": delivery.platform,
            "bot_id": delivery.bot_id,
            "delivery_id": delivery.delivery_id,
            "payload": delivery.payload,
            "owner": self.owner,
            "received_at": utcnow(),
        }
        statement = _insert_new(self.memory.database.dialect)
        return await self.memory.run(lambda conn: conn.execute(statement, values).rowcount == 1)

    async def answered(self, platform: str, bot_id: str, delivery_id: str) -> None:
        """Mark the event done: it is never replayed after this."""
        query = (
            update(InboxItem)
            .where(
                col(InboxItem.platform) == platform,
                col(InboxItem.bot_id) == bot_id,
                col(InboxItem.delivery_id) == delivery_id,
            )
            .values(answered_at=utcnow())
        )
        await self.memory.run(lambda conn: conn.execute(query))

    async def taken_since(self, platform: str, bot_id: str, within: timedelta) -> list[tuple[str, str, bool]]:
        """(delivery id, payload, answered) of the events claimed within `within`, to catch up from."""
        since = utcnow() - within
        query = select(col(InboxItem.delivery_id), col(InboxItem.payload), col(InboxItem.answered_at)).where(
            col(InboxItem.platform) == platform,
            col(InboxItem.bot_id) == bot_id,
            col(InboxItem.received_at) >= since,
        )
        rows = await self.memory.run(lambda conn: conn.execute(query).all())
        return [(row[0], row[1], row[2] is not None) for row in rows]

    async def is_answered(self, delivery: Delivery) -> bool:
        """Whether the stored event is marked answered (False also when it is not stored)."""
        query = select(col(InboxItem.answered_at)).where(
            col(InboxItem.platform) == delivery.platform,
            col(InboxItem.bot_id) == delivery.bot_id,
            col(InboxItem.delivery_id) == delivery.delivery_id,
        )
        return await self.memory.run(lambda conn: conn.execute(query).scalar()) is not None

    async def remembered(self, key: ConversationKey, message_id: str) -> Remembered:
        """What memory holds of the message with this platform id in its conversation: nothing, the
        message, or the message and the reply that followed it (which may never have been delivered)."""

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

        return await self.memory.run(work)

    async def pending(self, platform: str, bot_id: str) -> list[Delivery]:
        """Claimed but never answered (a crash or kill came between), oldest first."""
        query = (
            select(col(InboxItem.delivery_id), col(InboxItem.payload), col(InboxItem.received_at))
            .where(
                col(InboxItem.platform) == platform,
                col(InboxItem.bot_id) == bot_id,
                col(InboxItem.answered_at).is_(None),
            )
            .order_by(primary(InboxItem.id))
        )
        rows = await self.memory.run(lambda conn: conn.execute(query).all())
        return [Delivery(platform, bot_id, row[0], row[1], as_utc(row[2])) for row in rows]

    async def prune(self, older_than: timedelta | None = None) -> int:
        """Drop rows answered longer than `older_than` ago (default: the store's inbox retention,
        `memory.inbox_retention_hours`); returns how many went."""
        cutoff = utcnow() - (older_than if older_than is not None else self.memory.inbox_retention)
        query = delete(InboxItem).where(
            col(InboxItem.answered_at).is_not(None),
            col(InboxItem.answered_at) < cutoff,
        )
        return await self.memory.run(lambda conn: conn.execute(query).rowcount)
