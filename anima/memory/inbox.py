"""The inbox: every platform event is stored before the platform is told it arrived.

An adapter calls `claim` first (before confirming a Telegram update, before answering a webhook with
200, before acting on a Discord message) and `answered` once the reply went out. A second delivery
of the same event (redelivered after a crash, retried by a webhook, seen by two processes) finds its
row and is skipped. After a crash, `pending` lists what was claimed but never answered: the work to
resume at start. Platform-neutral: payloads are the platform's JSON, decoded by its adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from anima.memory.models import InboxItem, as_utc, utcnow
from anima.memory.store import MemoryStore

KEEP_ANSWERED = timedelta(days=2)  # Telegram redelivers for at most 24 h; Discord ids never repeat
# One statement that skips a repeat, built once: cheaper than a savepoint and a caught IntegrityError.
_INSERT_NEW = {
    "sqlite": sqlite.insert(InboxItem.__table__).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(InboxItem.__table__).on_conflict_do_nothing(),
}


@dataclass(frozen=True)
class Delivery:
    """One platform event as stored: its id on the platform and its raw payload (JSON text)."""

    platform: str
    bot_id: str
    delivery_id: str
    payload: str
    received_at: datetime | None = None


class Inbox:
    def __init__(self, memory: MemoryStore, owner: str = "") -> None:
        self.memory = memory
        self.owner = owner  # which process claimed a row (for several `anima run` on one database)

    async def claim(self, delivery: Delivery) -> bool:
        """Store the event; True when this call stored it first, False when it was already there."""
        values = {
            "platform": delivery.platform,
            "bot_id": delivery.bot_id,
            "delivery_id": delivery.delivery_id,
            "payload": delivery.payload,
            "owner": self.owner,
            "received_at": utcnow(),
        }
        statement = _INSERT_NEW[self.memory.database.dialect]
        return await self.memory.run(lambda conn: conn.execute(statement, values).rowcount == 1)

    async def answered(self, platform: str, bot_id: str, delivery_id: str) -> None:
        """Mark the event done: it is never replayed after this."""
        query = (
            update(InboxItem)
            .where(
                InboxItem.platform == platform,
                InboxItem.bot_id == bot_id,
                InboxItem.delivery_id == delivery_id,
            )
            .values(answered_at=utcnow())
        )
        await self.memory.run(lambda conn: conn.execute(query))

    async def pending(self, platform: str, bot_id: str) -> list[Delivery]:
        """Claimed but never answered (a crash or kill came between), oldest first."""
        query = (
            select(InboxItem.delivery_id, InboxItem.payload, InboxItem.received_at)
            .where(
                InboxItem.platform == platform,
                InboxItem.bot_id == bot_id,
                InboxItem.answered_at.is_(None),  # type: ignore[union-attr]
            )
            .order_by(InboxItem.id)  # type: ignore[arg-type]
        )
        rows = await self.memory.run(lambda conn: conn.execute(query).all())
        return [Delivery(platform, bot_id, row[0], row[1], as_utc(row[2])) for row in rows]

    async def prune(self, older_than: timedelta = KEEP_ANSWERED) -> int:
        """Drop answered rows older than `older_than`; returns how many went."""
        cutoff = utcnow() - older_than
        query = delete(InboxItem).where(
            InboxItem.answered_at.is_not(None),  # type: ignore[union-attr]
            InboxItem.answered_at < cutoff,  # type: ignore[operator]
        )
        return await self.memory.run(lambda conn: conn.execute(query).rowcount)
