"""SQLModel tables: users, conversations (character × user × chat) and their messages."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    platform_user_id: str
    display_name: str
    created_at: datetime = Field(default_factory=utcnow)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("character_id", "user_id", "platform", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    character_id: str
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    platform: str
    chat_id: str
    # /reset hides older messages from the short-term history without deleting them.
    history_starts_after: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", ondelete="CASCADE")
    role: str  # "user" | "assistant"
    content: str
    platform_message_id: str | None = None
    cut: bool = False  # the reply's stream broke off before the end
    created_at: datetime = Field(default_factory=utcnow)


class Preference(SQLModel, table=True):
    """A remembered setting of a chat, or of one user in a chat (user_id ""): character, voice, …"""

    __tablename__ = "preferences"

    platform: str = Field(primary_key=True)
    chat_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True, default="")
    key: str = Field(primary_key=True)
    value: str  # JSON
    updated_at: datetime = Field(default_factory=utcnow)
