"""The message store: SQLite (WAL) by default, any SQLAlchemy async URL otherwise.

Durability: WAL with synchronous=NORMAL keeps every committed transaction across a process crash
(kill -9); only an OS crash or power loss can roll back the last commits, a trade taken for ~7x more
commits per second than FULL. Writes start with BEGIN IMMEDIATE so they wait on busy_timeout instead
of failing with "database is locked" when a read transaction later needs to write.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from anima.core.messages import ConversationKey, Role
from anima.errors import MemoryStoreError
from anima.memory.models import Conversation, Message, Preference, User, utcnow

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class StoredMessage:
    id: int
    role: Role
    content: str
    created_at: datetime
    cut: bool = False


@dataclass
class ConversationState:
    """A conversation's ids and its recent messages, cached so recall needs no query per turn."""

    id: int
    user_id: int
    recent: deque[StoredMessage]


@dataclass(frozen=True)
class MemoryView:
    """What a character keeps about a user, for /memory."""

    character_id: str
    display_name: str
    total_messages: int
    in_history: int
    first_seen: datetime | None
    recent: list[StoredMessage]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _begin_immediate)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class MemoryStore:
    """Per character × user × chat message history that survives restarts."""

    def __init__(self, engine: AsyncEngine, history_messages: int = 200) -> None:
        self.engine = engine
        self.history_messages = history_messages
        self._conversations: dict[ConversationKey, ConversationState] = {}

    @classmethod
    async def open(cls, url: str, history_messages: int = 200) -> MemoryStore:
        if url.startswith("sqlite") and ":memory:" not in url:
            Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _begin_immediate)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(SQLModel.metadata.create_all)
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise MemoryStoreError(f"cannot open the memory database {url}: {exc}") from exc
        return cls(engine, history_messages)

    async def close(self) -> None:
        await self.engine.dispose()

    async def conversation(self, key: ConversationKey, display_name: str) -> ConversationState:
        """The conversation for `key`, created on first contact; cached after the first call."""
        state = self._conversations.get(key)
        if state is not None:
            return state
        async with self.engine.begin() as conn:
            user_id = await self._user_id(conn, key, display_name)
            row = (
                await conn.execute(
                    select(Conversation.id, Conversation.history_starts_after).where(
                        Conversation.character_id == key.character_id,
                        Conversation.user_id == user_id,
                        Conversation.platform == key.platform,
                        Conversation.chat_id == key.chat_id,
                    )
                )
            ).first()
            if row is None:
                result = await conn.execute(
                    Conversation.__table__.insert().values(
                        character_id=key.character_id,
                        user_id=user_id,
                        platform=key.platform,
                        chat_id=key.chat_id,
                        history_starts_after=0,
                        created_at=utcnow(),
                    )
                )
                conv_id, starts_after = result.inserted_primary_key[0], 0
            else:
                conv_id, starts_after = row
            recent = await self._load_recent(conn, conv_id, starts_after)
        state = ConversationState(conv_id, user_id, deque(recent, maxlen=self.history_messages))
        self._conversations[key] = state
        return state

    async def _user_id(self, conn: Any, key: ConversationKey, display_name: str) -> int:
        where = (User.platform == key.platform, User.platform_user_id == key.user_id)
        row = (await conn.execute(select(User.id, User.display_name).where(*where))).first()
        if row is not None:
            if row[1] != display_name:
                await conn.execute(update(User).where(User.id == row[0]).values(display_name=display_name))
            return row[0]
        try:
            async with conn.begin_nested():
                result = await conn.execute(
                    User.__table__.insert().values(
                        platform=key.platform,
                        platform_user_id=key.user_id,
                        display_name=display_name,
                        created_at=utcnow(),
                    )
                )
                return result.inserted_primary_key[0]
        except IntegrityError:
            return (await conn.execute(select(User.id).where(*where))).scalar_one()

    async def _load_recent(self, conn: Any, conv_id: int, starts_after: int) -> list[StoredMessage]:
        rows = (
            await conn.execute(
                select(Message.id, Message.role, Message.content, Message.created_at, Message.cut)
                .where(Message.conversation_id == conv_id, Message.id > starts_after)
                .order_by(Message.id.desc())
                .limit(self.history_messages)
            )
        ).all()
        return [StoredMessage(*row) for row in reversed(rows)]

    async def add(
        self,
        state: ConversationState,
        role: Role,
        content: str,
        platform_message_id: str | None = None,
        cut: bool = False,
    ) -> StoredMessage:
        """Commit one message; when this returns, it survives a crash."""
        created = utcnow()
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    Message.__table__.insert().values(
                        conversation_id=state.id,
                        role=role,
                        content=content,
                        platform_message_id=platform_message_id,
                        cut=cut,
                        created_at=created,
                    )
                )
        except SQLAlchemyError as exc:
            raise MemoryStoreError(f"could not store the {role}'s message: {exc}") from exc
        stored = StoredMessage(result.inserted_primary_key[0], role, content, created, cut)
        state.recent.append(stored)
        return stored

    async def reset(self, state: ConversationState) -> None:
        """Start a fresh short-term history; older messages stay stored (and in /memory counts)."""
        last = state.recent[-1].id if state.recent else 0
        async with self.engine.begin() as conn:
            if not last:
                q = select(func.max(Message.id)).where(Message.conversation_id == state.id)
                last = (await conn.execute(q)).scalar() or 0
            await conn.execute(
                update(Conversation).where(Conversation.id == state.id).values(history_starts_after=last)
            )
        state.recent.clear()

    async def view(self, key: ConversationKey, display_name: str, last: int = 6) -> MemoryView:
        state = await self.conversation(key, display_name)
        async with self.engine.connect() as conn:
            total = (
                await conn.execute(select(func.count()).where(Message.conversation_id == state.id))
            ).scalar_one()
            first = (
                await conn.execute(select(Conversation.created_at).where(Conversation.id == state.id))
            ).scalar_one()
        recent = list(state.recent)[-last:]
        return MemoryView(key.character_id, display_name, total, len(state.recent), first, recent)

    async def forget_user(self, platform: str, platform_user_id: str) -> int:
        """Delete everything stored about a user on a platform; returns how many messages went."""
        async with self.engine.begin() as conn:
            user_id = (
                await conn.execute(
                    select(User.id).where(
                        User.platform == platform, User.platform_user_id == platform_user_id
                    )
                )
            ).scalar()
            deleted = 0
            if user_id is not None:
                conversations = select(Conversation.id).where(Conversation.user_id == user_id)
                result = await conn.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
                deleted = result.rowcount or 0
                await conn.execute(delete(Conversation).where(Conversation.user_id == user_id))
                await conn.execute(delete(User).where(User.id == user_id))
            await conn.execute(
                delete(Preference).where(
                    Preference.platform == platform, Preference.user_id == platform_user_id
                )
            )
        for key in [
            k for k in self._conversations if k.platform == platform and k.user_id == platform_user_id
        ]:
            del self._conversations[key]
        return deleted

    async def get_preference(self, platform: str, chat_id: str, key: str, user_id: str = "") -> Any:
        """A remembered setting (None when unset), e.g. the character bound to a chat."""
        async with self.engine.connect() as conn:
            raw = (
                await conn.execute(
                    select(Preference.value).where(
                        Preference.platform == platform,
                        Preference.chat_id == chat_id,
                        Preference.user_id == user_id,
                        Preference.key == key,
                    )
                )
            ).scalar()
        return None if raw is None else json.loads(raw)

    async def set_preference(
        self, platform: str, chat_id: str, key: str, value: Any, user_id: str = ""
    ) -> None:
        where = (
            Preference.platform == platform,
            Preference.chat_id == chat_id,
            Preference.user_id == user_id,
            Preference.key == key,
        )
        async with self.engine.begin() as conn:
            await conn.execute(delete(Preference).where(*where))
            if value is not None:
                await conn.execute(
                    Preference.__table__.insert().values(
                        platform=platform,
                        chat_id=chat_id,
                        user_id=user_id,
                        key=key,
                        value=json.dumps(value),
                        updated_at=utcnow(),
                    )
                )
