"""The message store: per character × user × chat history that survives restarts."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from anima.core.messages import ConversationKey, Role
from anima.core.prompt import ChatMessage
from anima.errors import MemoryStoreError
from anima.memory.database import Database, open_database
from anima.memory.models import Conversation, Message, Preference, User, utcnow


@dataclass(frozen=True)
class StoredMessage(ChatMessage):
    """A message as stored; it is a ChatMessage, so history goes into a prompt without copying."""

    id: int = 0
    created_at: datetime | None = None
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


_INSERT_MESSAGE = Message.__table__.insert()  # built once: a per-call .values() costs ~0.1 ms


class MemoryStore:
    def __init__(self, database: Database, history_messages: int = 200) -> None:
        self.database = database
        self.history_messages = history_messages
        self._conversations: dict[ConversationKey, ConversationState] = {}

    @classmethod
    async def open(cls, url: str, history_messages: int = 200) -> MemoryStore:
        try:
            database = open_database(url)
            await database.transaction(lambda conn: SQLModel.metadata.create_all(conn))
        except (SQLAlchemyError, OSError) as exc:
            raise MemoryStoreError(f"cannot open the memory database {url}: {exc}") from exc
        return cls(database, history_messages)

    async def close(self) -> None:
        await self.database.close()

    async def conversation(self, key: ConversationKey, display_name: str) -> ConversationState:
        """The conversation for `key`, created on first contact; cached after the first call."""
        state = self._conversations.get(key)
        if state is None:
            state = await self.database.transaction(
                lambda conn: self._open_conversation(conn, key, display_name)
            )
            self._conversations[key] = state
        return state

    def _open_conversation(
        self, conn: Connection, key: ConversationKey, display_name: str
    ) -> ConversationState:
        user_id = _user_id(conn, key.platform, key.user_id, display_name)
        row = conn.execute(
            select(Conversation.id, Conversation.history_starts_after).where(
                Conversation.character_id == key.character_id,
                Conversation.user_id == user_id,
                Conversation.platform == key.platform,
                Conversation.chat_id == key.chat_id,
            )
        ).first()
        if row is None:
            result = conn.execute(
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
        rows = conn.execute(
            select(Message.role, Message.content, Message.id, Message.created_at, Message.cut)
            .where(Message.conversation_id == conv_id, Message.id > starts_after)
            .order_by(Message.id.desc())
            .limit(self.history_messages)
        ).all()
        recent = [StoredMessage(*row) for row in reversed(rows)]
        return ConversationState(conv_id, user_id, deque(recent, maxlen=self.history_messages))

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
        row = {
            "conversation_id": state.id,
            "role": role,
            "content": content,
            "platform_message_id": platform_message_id,
            "cut": cut,
            "created_at": created,
        }
        try:
            message_id = await self.database.transaction(
                lambda conn: conn.execute(_INSERT_MESSAGE, row).inserted_primary_key[0]
            )
        except SQLAlchemyError as exc:
            raise MemoryStoreError(f"could not store the {role}'s message: {exc}") from exc
        stored = StoredMessage(role, content, message_id, created, cut)
        state.recent.append(stored)
        return stored

    async def reset(self, state: ConversationState) -> None:
        """Start a fresh short-term history; older messages stay stored (and in /memory counts)."""

        def work(conn: Connection) -> None:
            last = conn.execute(
                select(func.max(Message.id)).where(Message.conversation_id == state.id)
            ).scalar()
            conn.execute(
                update(Conversation).where(Conversation.id == state.id).values(history_starts_after=last or 0)
            )

        await self.database.transaction(work)
        state.recent.clear()

    async def view(self, key: ConversationKey, display_name: str, last: int = 6) -> MemoryView:
        state = await self.conversation(key, display_name)

        def work(conn: Connection) -> tuple[int, datetime]:
            total = conn.execute(select(func.count()).where(Message.conversation_id == state.id)).scalar_one()
            first = conn.execute(
                select(Conversation.created_at).where(Conversation.id == state.id)
            ).scalar_one()
            return total, first

        total, first = await self.database.transaction(work)
        recent = list(state.recent)[-last:]
        return MemoryView(key.character_id, display_name, total, len(state.recent), first, recent)

    async def forget_user(self, platform: str, platform_user_id: str) -> int:
        """Delete everything stored about a user on a platform; returns how many messages went."""

        def work(conn: Connection) -> int:
            user_id = conn.execute(
                select(User.id).where(User.platform == platform, User.platform_user_id == platform_user_id)
            ).scalar()
            deleted = 0
            if user_id is not None:
                conversations = select(Conversation.id).where(Conversation.user_id == user_id)
                deleted = conn.execute(
                    delete(Message).where(Message.conversation_id.in_(conversations))
                ).rowcount
                conn.execute(delete(Conversation).where(Conversation.user_id == user_id))
                conn.execute(delete(User).where(User.id == user_id))
            conn.execute(
                delete(Preference).where(
                    Preference.platform == platform, Preference.user_id == platform_user_id
                )
            )
            return deleted or 0

        deleted = await self.database.transaction(work)
        for key in [
            k for k in self._conversations if (k.platform, k.user_id) == (platform, platform_user_id)
        ]:
            del self._conversations[key]
        return deleted

    async def get_preference(self, platform: str, chat_id: str, key: str, user_id: str = "") -> Any:
        """A remembered setting (None when unset), e.g. the character bound to a chat."""
        query = select(Preference.value).where(
            Preference.platform == platform,
            Preference.chat_id == chat_id,
            Preference.user_id == user_id,
            Preference.key == key,
        )
        raw = await self.database.transaction(lambda conn: conn.execute(query).scalar())
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

        def work(conn: Connection) -> None:
            conn.execute(delete(Preference).where(*where))
            if value is not None:
                conn.execute(
                    Preference.__table__.insert().values(
                        platform=platform,
                        chat_id=chat_id,
                        user_id=user_id,
                        key=key,
                        value=json.dumps(value),
                        updated_at=utcnow(),
                    )
                )

        await self.database.transaction(work)


def _user_id(conn: Connection, platform: str, platform_user_id: str, display_name: str) -> int:
    where = (User.platform == platform, User.platform_user_id == platform_user_id)
    row = conn.execute(select(User.id, User.display_name).where(*where)).first()
    if row is None:
        result = conn.execute(
            User.__table__.insert().values(
                platform=platform,
                platform_user_id=platform_user_id,
                display_name=display_name,
                created_at=utcnow(),
            )
        )
        return result.inserted_primary_key[0]
    if row[1] != display_name:
        conn.execute(update(User).where(User.id == row[0]).values(display_name=display_name))
    return row[0]
