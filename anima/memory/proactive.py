"""The proactive schedule in the database: chats where a character may write first, claimed by one
process at a time (an UPDATE that only one can win), and what was said there lately."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlmodel import col

from anima.memory.models import Conversation, Message, ProactiveChat, User, as_utc, insert_row, primary

DUE_PER_PASS = 50  # rows looked at per pass: the rest wait for the next


@dataclass(frozen=True)
class ProactiveKey:
    platform: str
    bot_id: str
    chat_id: str
    user_id: str
    character_id: str


@dataclass(frozen=True)
class Scheduled:
    """One chat of the schedule, with what the decision to write needs."""

    id: int
    key: ProactiveKey
    kind: str
    timezone: str
    enabled_at: datetime
    last_sent_at: datetime | None
    sent_day: str
    sent_today: int


@dataclass(frozen=True)
class Activity:
    """When the chat last heard from anyone, and from a person."""

    last_message_at: datetime | None
    last_user_at: datetime | None
    display_name: str


def _where(key: ProactiveKey) -> list[Any]:
    return [
        col(ProactiveChat.platform) == key.platform,
        col(ProactiveChat.bot_id) == key.bot_id,
        col(ProactiveChat.chat_id) == key.chat_id,
        col(ProactiveChat.user_id) == key.user_id,
        col(ProactiveChat.character_id) == key.character_id,
    ]


def enable_chat(conn: Connection, key: ProactiveKey, kind: str, timezone: str, now: datetime) -> None:
    """Turn writing first on for the chat (again): the idle time counts from now."""
    conn.execute(delete(ProactiveChat).where(*_where(key)))
    insert_row(
        conn,
        ProactiveChat,
        **asdict(key),
        kind=kind,
        timezone=timezone,
        enabled_at=now,
        next_at=now,
        sent_day="",
        sent_today=0,
        claimed_by="",
    )


def disable_chat(conn: Connection, key: ProactiveKey, anyone: bool = False) -> bool:
    """Turn it off; `anyone`: whoever turned it on (a group, where any of its admins may)."""
    where = _where(key)
    return bool(
        conn.execute(delete(ProactiveChat).where(*(where[:3] + where[4:] if anyone else where))).rowcount
    )


def is_enabled(conn: Connection, key: ProactiveKey, anyone: bool = False) -> bool:
    where = _where(key)
    found = select(primary(ProactiveChat.id)).where(*(where[:3] + where[4:] if anyone else where))
    return conn.execute(found).first() is not None


def due(conn: Connection, now: datetime, bots: Collection[tuple[str, str]]) -> list[Scheduled]:
    """Rows of `bots` (platform, bot id) whose time to be looked at has come and that no process
    holds: another bot's rows, however many are due, never fill a pass."""
    if not bots:
        return []
    served = or_(*(and_(col(ProactiveChat.platform) == p, col(ProactiveChat.bot_id) == b) for p, b in bots))
    rows = conn.execute(
        select(
            primary(ProactiveChat.id),
            col(ProactiveChat.platform),
            col(ProactiveChat.bot_id),
            col(ProactiveChat.chat_id),
            col(ProactiveChat.user_id),
            col(ProactiveChat.character_id),
            col(ProactiveChat.kind),
            col(ProactiveChat.timezone),
            col(ProactiveChat.enabled_at),
            col(ProactiveChat.last_sent_at),
            col(ProactiveChat.sent_day),
            col(ProactiveChat.sent_today),
        )
        .where(col(ProactiveChat.next_at) <= now, _free(now), served)
        .order_by(col(ProactiveChat.next_at))
        .limit(DUE_PER_PASS)
    ).all()
    return [
        Scheduled(
            row[0],
            ProactiveKey(*row[1:6]),
            row[6],
            row[7],
            as_utc(row[8]),
            as_utc(row[9]) if row[9] is not None else None,
            row[10],
            row[11],
        )
        for row in rows
    ]


def claim(conn: Connection, row_id: int, owner: str, now: datetime, until: datetime) -> bool:
    """Hold a due row until `until`; False when another process holds it (or it is no longer due)."""
    taken = conn.execute(
        update(ProactiveChat)
        .where(primary(ProactiveChat.id) == row_id, col(ProactiveChat.next_at) <= now, _free(now))
        .values(claimed_by=owner, claimed_until=until)
    )
    return bool(taken.rowcount)


def release(
    conn: Connection,
    row_id: int,
    next_at: datetime,
    sent_at: datetime | None = None,
    sent_day: str = "",
    sent_today: int = 0,
) -> None:
    """Give a claimed row back, to be looked at again at `next_at`; with `sent_at`, a message went out."""
    values: dict[str, object] = {"next_at": next_at, "claimed_by": "", "claimed_until": None}
    if sent_at is not None:
        values |= {"last_sent_at": sent_at, "sent_day": sent_day, "sent_today": sent_today}
    conn.execute(update(ProactiveChat).where(primary(ProactiveChat.id) == row_id).values(**values))


def activity(conn: Connection, row: Scheduled) -> Activity:
    """The chat's latest messages: the person's conversation with the character in a private chat;
    in a group, every conversation of the character there."""
    key = row.key
    conversations = (
        select(primary(Conversation.id))
        .join(User, col(User.id) == col(Conversation.user_id))
        .where(
            col(Conversation.platform) == key.platform,
            col(Conversation.chat_id) == key.chat_id,
            col(Conversation.character_id) == key.character_id,
        )
    )
    if row.kind == "private":
        conversations = conversations.where(col(User.platform_user_id) == key.user_id)
    in_chat = col(Message.conversation_id).in_(conversations)
    last = conn.execute(select(func.max(col(Message.created_at))).where(in_chat)).scalar()
    last_user = conn.execute(
        select(func.max(col(Message.created_at))).where(in_chat, col(Message.role) == "user")
    ).scalar()
    name = conn.execute(
        select(col(User.display_name)).where(
            col(User.platform) == key.platform, col(User.platform_user_id) == key.user_id
        )
    ).scalar()
    return Activity(
        as_utc(last) if last is not None else None,
        as_utc(last_user) if last_user is not None else None,
        name or "",
    )


def _free(now: datetime) -> Any:
    return col(ProactiveChat.claimed_until).is_(None) | (col(ProactiveChat.claimed_until) < now)
