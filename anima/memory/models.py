"""SQLModel tables: users, conversations (character × user × chat) and their messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, DateTime, Index, Table, UniqueConstraint
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Mapped
from sqlmodel import Field, SQLModel, col

from anima.errors import MemoryStoreError


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def table_of(model: type[SQLModel]) -> Table:
    """The model's table, for Core statements (`insert`, `create`)."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table=True models; its types omit it
    return table


def primary(column: int | None) -> Mapped[int]:
    """A table's `id` in a query: `col()` for the primary key, which a stored row always has (the
    model says `int | None` for rows not yet inserted)."""
    return cast("Mapped[int]", col(column))


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the one row an INSERT made."""
    key = result.inserted_primary_key
    if key is None:
        raise MemoryStoreError("the database reported no new row for an insert")
    return int(key[0])


def insert_row(conn: Connection, model: type[SQLModel], **values: Any) -> CursorResult[Any]:
    """One row into the model's table (`inserted_id` of the result gives its key)."""
    return conn.execute(table_of(model).insert().values(**values))


def _moment(**kwargs: Any) -> Any:
    """A timestamp column: timestamptz on PostgreSQL (asyncpg refuses aware datetimes otherwise)."""
    return Field(sa_type=DateTime(timezone=True), **kwargs)


class Keyed(SQLModel):
    """A table's surrogate key: None on a row not yet inserted."""

    id: int | None = Field(default=None, primary_key=True)


class OfConversation(Keyed):
    """A row of one conversation (a turn, a summary, a fact, …), deleted with it."""

    conversation_id: int = Field(foreign_key="conversations.id", ondelete="CASCADE")


class User(Keyed, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    platform: str
    platform_user_id: str
    display_name: str
    created_at: datetime = _moment(default_factory=utcnow)


class Conversation(Keyed, table=True):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("character_id", "user_id", "platform", "chat_id"),)

    character_id: str
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    platform: str
    chat_id: str
    bot_id: str = ""  # the bot account it is held through (its admins see what came of it); "": before 0007
    private: bool = False  # a private chat (a DM, the terminal): what is learned there stays out of groups;
    # what is said there may reach the person's accounts linked with /link (memory.linked_scope)
    # /reset hides older messages from the short-term history without deleting them.
    history_starts_after: int = 0
    created_at: datetime = _moment(default_factory=utcnow)


class Message(OfConversation, table=True):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    role: str  # "user" | "assistant"
    content: str
    platform_message_id: str | None = None
    cut: bool = False  # the reply's stream broke off before the end
    created_at: datetime = _moment(default_factory=utcnow)


class Preference(SQLModel, table=True):
    """A remembered setting of a chat, or of one user in a chat (user_id ""): character, voice, …"""

    __tablename__ = "preferences"

    platform: str = Field(primary_key=True)
    chat_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True, default="")
    key: str = Field(primary_key=True)
    value: str  # JSON
    updated_at: datetime = _moment(default_factory=utcnow)


class Summary(OfConversation, table=True):
    """An older stretch of a conversation, summarised in the background by the character's LLM."""

    __tablename__ = "summaries"
    __table_args__ = (Index("ix_summaries_conversation_id", "conversation_id", "last_message_id"),)

    first_message_id: int
    last_message_id: int
    content: str
    started_at: datetime = _moment()
    ended_at: datetime = _moment()
    created_at: datetime = _moment(default_factory=utcnow)


class Fact(OfConversation, table=True):
    """A durable statement about the user ("lives in Berlin"); a newer fact on the same topic
    supersedes the old one, which stays stored (superseded_at set) until the user forgets."""

    __tablename__ = "facts"
    __table_args__ = (Index("ix_facts_conversation_id", "conversation_id", "topic"),)

    topic: str  # "name", "home", "job", "pet", "likes", "birthday", "plan", … ("" for free-form)
    content: str
    importance: float = 0.5  # 0..1
    happened_at: datetime | None = _moment(
        default=None
    )  # the date the fact is about (a birthday, a plan), if any
    source: str = "rules"  # "rules" | "llm"
    source_message_id: int | None = None
    superseded_at: datetime | None = _moment(default=None)
    created_at: datetime = _moment(default_factory=utcnow)


class SearchEntry(OfConversation, table=True):
    """One searchable memory (a turn, a summary or a fact) with the text the full-text index sees.

    SQLite indexes `body` and `context` in the FTS5 table `search_fts` (external content, kept in
    step by triggers; terms prefixed with their conversation, see anima.memory.search); PostgreSQL
    in the generated tsvector column `document`. Both are made by the migrations, outside this model.
    """

    __tablename__ = "search_entries"
    __table_args__ = (
        UniqueConstraint("kind", "item_id"),
        Index("ix_search_entries_conversation_id", "conversation_id", "created_at"),
    )

    kind: str  # "turn" | "summary" | "fact"
    item_id: int
    role: str = ""  # for turns: "user" | "assistant"
    body: str  # the searchable text (anima.memory.search.index_text)
    context: str = ""  # the turns before and after, weighted lower: answers often sit one turn away
    importance: float = 0.5
    created_at: datetime = _moment(default_factory=utcnow)


class SafetyEvent(Keyed, table=True):
    """A safety decision other than "allow", for `anima safety report` (written by anima/safety/audit.py)."""

    __tablename__ = "safety_events"
    __table_args__ = (Index("ix_safety_events_created_at", "created_at"),)

    platform: str
    chat_id: str
    user_id: str
    character_id: str
    stage: str  # "input" | "output"
    check: str  # the check's name: pii, leak, persona, harm, …
    action: str  # log, redact, regenerate, replace, drop
    category: str = ""
    score: float = 1.0
    reason: str = ""
    excerpt: str = ""  # a short excerpt, its hash, or nothing (safety.audit_excerpt)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class MemoryVector(SQLModel, table=True):
    """A memory's sentence vector: float16, unit length, 64 values (static encoder) or 384 (MiniLM)."""

    __tablename__ = "memory_vectors"
    __table_args__ = (Index("ix_memory_vectors_conversation_id", "conversation_id", "entry_id"),)

    entry_id: int = Field(primary_key=True, foreign_key="search_entries.id", ondelete="CASCADE")
    conversation_id: int = Field(foreign_key="conversations.id", ondelete="CASCADE")
    vector: bytes


class StoredPicture(OfConversation, table=True):
    """A picture someone sent, kept with their message: the platform's reference to the original
    (never the original itself) and a small JPEG thumbnail, until images.retention_days."""

    __tablename__ = "pictures"
    __table_args__ = (
        Index("ix_pictures_message_id", "message_id"),
        Index("ix_pictures_created_at", "created_at"),
    )

    message_id: int = Field(foreign_key="messages.id", ondelete="CASCADE")
    reference: str  # a Telegram file id, a Discord attachment URL, a path named in the terminal
    sha256: str  # of the original bytes
    width: int  # of the original
    height: int
    thumbnail: bytes  # JPEG, ≤ images.thumbnail_side px
    created_at: datetime = _moment(default_factory=utcnow)


class InboxItem(Keyed, table=True):
    """A platform event stored the moment it arrives, before the platform is told it was received.

    The unique (platform, bot_id, delivery_id) makes a second delivery of the same event (a Telegram
    update after a restart, a webhook retried, a message seen by two processes) a no-op; rows whose
    `answered_at` is still empty after a crash are the work to resume at the next start.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "bot_id", "delivery_id"),
        Index("ix_inbox_pending", "platform", "bot_id", "answered_at"),
    )

    platform: str
    bot_id: str
    delivery_id: str  # Telegram update_id, Discord message id
    payload: str  # the platform's raw event as JSON, to replay after a crash
    owner: str = ""  # the process that claimed it (several `anima run` on one PostgreSQL)
    received_at: datetime = _moment(default_factory=utcnow)
    answered_at: datetime | None = _moment(default=None)


class SoulVersion(Keyed, table=True):
    """One version of a character's learned layer (anima/soul), made by an applied change or a rollback."""

    __tablename__ = "soul_versions"
    __table_args__ = (UniqueConstraint("character_id", "version"),)

    character_id: str
    version: int  # 1, 2, … per character; version 0 is the card alone
    action: str  # "apply" | "rollback"
    note: str = ""  # what changed, for `anima soul history`
    approved_by: str  # "auto", "cli:alice", "telegram:123", …
    proposal_id: int | None = None
    created_at: datetime = _moment(default_factory=utcnow)


class SoulEntry(Keyed, table=True):
    """One learned line of a character's soul, part of versions added_version ≤ v < removed_version.

    Relationship lines belong to one user (platform, user_id) and reach only that user's chats;
    the others ("" for both) are shared by every chat of the character.
    """

    __tablename__ = "soul_entries"
    __table_args__ = (
        Index("ix_soul_entries_character_id", "character_id", "removed_version"),
        Index("ix_soul_entries_user", "platform", "user_id"),
    )

    character_id: str
    kind: str  # backstory | habit | opinion | relationship
    text: str
    platform: str = ""
    user_id: str = ""
    bot_id: str = ""  # relationship lines: the bot they were learned through
    # a shared line learned in someone's private chat: whose, so it stays out of groups unless they share
    source_platform: str = ""
    source_user_id: str = ""
    origin_id: int = 0  # the row first holding this line (a rollback copies lines back): the prompt's order
    proposal_id: int | None = None
    added_version: int
    removed_version: int | None = None
    created_at: datetime = _moment(default_factory=utcnow)


class SoulProposal(Keyed, table=True):
    """A change to a character's soul proposed from a conversation, with the messages behind it."""

    __tablename__ = "soul_proposals"
    __table_args__ = (
        Index("ix_soul_proposals_character_id", "character_id", "status"),
        Index("ix_soul_proposals_source", "source_platform", "source_user_id"),
    )

    character_id: str
    kind: str
    text: str
    platform: str = ""  # whose relationship it is ("" for a shared change)
    user_id: str = ""
    source_platform: str  # whose conversation it came from
    source_user_id: str
    source_bot: str = ""  # and through which bot account ("": before migration 0007)
    source_private: bool = False  # and whether it was a private chat
    conversation_id: int | None = None
    evidence: str = "[]"  # JSON list of message ids
    confidence: float = 0.5
    status: str = "pending"  # pending | applied | rejected
    reason: str = ""  # why it was rejected: the safety stage's finding, or the owner's choice
    decided_by: str = ""
    version: int | None = None  # the soul version its approval made
    created_at: datetime = _moment(default_factory=utcnow)
    decided_at: datetime | None = _moment(default=None)


class ProactiveChat(Keyed, table=True):
    """A chat where a character may write first (/proactive on), and when it last did.

    `next_at` is when the scheduler looks at the chat again; `claimed_until` is set while one process
    writes there, so several processes on one database send once."""

    __tablename__ = "proactive"
    __table_args__ = (
        UniqueConstraint("platform", "bot_id", "chat_id", "user_id", "character_id"),
        Index("ix_proactive_next_at", "next_at"),
    )

    platform: str
    bot_id: str
    chat_id: str
    user_id: str  # who turned it on (in a group: the admin)
    character_id: str
    kind: str = "private"  # "private" | "group"
    timezone: str = ""  # the person's IANA zone, "" for the deployment's
    enabled_at: datetime = _moment(default_factory=utcnow)
    next_at: datetime = _moment(default_factory=utcnow)
    last_sent_at: datetime | None = _moment(default=None)
    sent_day: str = ""  # the local date of `sent_today`
    sent_today: int = 0
    claimed_by: str = ""
    claimed_until: datetime | None = _moment(default=None)


class AccountLink(SQLModel, table=True):
    """One account of a person who linked their accounts with /link: same `person`, one person."""

    __tablename__ = "account_links"
    __table_args__ = (Index("ix_account_links_person", "person"),)

    platform: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)
    person: str
    linked_at: datetime = _moment(default_factory=utcnow)


class LinkCode(SQLModel, table=True):
    """A one-time /link code, valid until `expires_at`."""

    __tablename__ = "link_codes"

    code: str = Field(primary_key=True)
    platform: str
    user_id: str
    expires_at: datetime = _moment()
