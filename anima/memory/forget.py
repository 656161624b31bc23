"""What forgetting a person deletes, and what it anonymises, in one transaction (see docs/privacy.md).

Deleted: their user row, conversations, messages, summaries, facts, full-text and vector entries,
their preferences and the preferences of their private chat, their relationship lines and every
proposal about them, their soul proposals never applied, the raw platform events they sent (the
inbox) and whatever of theirs other people's events quote. Anonymised, because it is shared by
every chat of the character: a change proposed from their conversation and applied keeps its text
but loses whose it was and the messages behind it; a safety decision about them keeps its counts
for `anima safety report` but loses who, where and the excerpt.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, inspect, or_, select, update
from sqlmodel import col

from anima.memory.links import forget_links
from anima.memory.models import (
    Conversation,
    Fact,
    InboxItem,
    MemoryVector,
    Message,
    Preference,
    ProactiveChat,
    SafetyEvent,
    SearchEntry,
    SoulEntry,
    SoulProposal,
    StoredPicture,
    Summary,
    User,
    primary,
)

FORGOTTEN = "forgotten"  # who an anonymised row is about, once the person is forgotten
SENDER_KEYS = ("from", "author", "user")  # who wrote a Telegram or Discord object (or is its subject)


def forget_person(conn: Connection, platform: str, user_id: str) -> tuple[int, list[int]]:
    """Delete and anonymise everything about one person; returns (messages deleted, conversation ids)."""
    person = conn.execute(
        select(primary(User.id)).where(col(User.platform) == platform, col(User.platform_user_id) == user_id)
    ).scalar()
    deleted, conversation_ids = 0, []
    if person is not None:
        conversation_ids = list(
            conn.execute(
                select(primary(Conversation.id)).where(col(Conversation.user_id) == person)
            ).scalars()
        )
        theirs = select(primary(Conversation.id)).where(col(Conversation.user_id) == person)
        # the index first: on SQLite its delete trigger also clears the FTS5 rows
        conn.execute(delete(MemoryVector).where(col(MemoryVector.conversation_id).in_(theirs)))
        conn.execute(delete(SearchEntry).where(col(SearchEntry.conversation_id).in_(theirs)))
        conn.execute(delete(Fact).where(col(Fact.conversation_id).in_(theirs)))
        conn.execute(delete(StoredPicture).where(col(StoredPicture.conversation_id).in_(theirs)))
        conn.execute(delete(Summary).where(col(Summary.conversation_id).in_(theirs)))
        deleted = conn.execute(delete(Message).where(col(Message.conversation_id).in_(theirs))).rowcount or 0
        conn.execute(delete(Conversation).where(col(Conversation.user_id) == person))
        conn.execute(delete(User).where(primary(User.id) == person))
    # their own settings, and those of their private chat (on Telegram its id is theirs)
    conn.execute(
        delete(Preference).where(
            col(Preference.platform) == platform,
            or_(col(Preference.user_id) == user_id, col(Preference.chat_id) == user_id),
        )
    )
    _forget_soul(conn, platform, user_id, conversation_ids)
    forget_links(conn, (platform, user_id))
    conn.execute(
        delete(ProactiveChat).where(
            col(ProactiveChat.platform) == platform, col(ProactiveChat.user_id) == user_id
        )
    )
    _forget_inbox(conn, platform, user_id)
    _anonymise_audit(conn, platform, user_id)
    return deleted, conversation_ids


def _forget_soul(conn: Connection, platform: str, user_id: str, conversation_ids: list[int]) -> None:
    """A character's relationship with the person goes, in every soul version, and so does what
    their conversations proposed but was never applied; shared growth (backstory, habits) applied
    from their conversations stays, with no trace of whose it was."""
    conn.execute(
        delete(SoulEntry).where(col(SoulEntry.platform) == platform, col(SoulEntry.user_id) == user_id)
    )
    from_them = (col(SoulProposal.source_platform) == platform) & (
        col(SoulProposal.source_user_id) == user_id
    )
    conn.execute(
        delete(SoulProposal).where(
            ((col(SoulProposal.platform) == platform) & (col(SoulProposal.user_id) == user_id))
            | (from_them & (col(SoulProposal.status) != "applied"))
        )
    )
    conn.execute(
        update(SoulProposal)
        .where(from_them | col(SoulProposal.conversation_id).in_(conversation_ids or [-1]))
        .values(source_user_id=FORGOTTEN, conversation_id=None, evidence="[]")
    )
    conn.execute(  # shared growth from their private chat: still out of groups, no longer whose
        update(SoulEntry)
        .where(col(SoulEntry.source_platform) == platform, col(SoulEntry.source_user_id) == user_id)
        .values(source_user_id=FORGOTTEN)
    )


def _forget_inbox(conn: Connection, platform: str, user_id: str) -> None:
    """Events they sent go; another person's event that quotes them (a reply) loses the quote."""
    rows = conn.execute(
        select(primary(InboxItem.id), col(InboxItem.payload)).where(
            col(InboxItem.platform) == platform, col(InboxItem.payload).contains(user_id, autoescape=True)
        )
    ).all()
    for row_id, payload in rows:
        try:
            event = json.loads(payload)
        except ValueError:
            continue
        if _sent_by(event, user_id) or _sent_by(_first_object(event), user_id):
            conn.execute(delete(InboxItem).where(primary(InboxItem.id) == row_id))
        elif _strip_quotes(event, user_id):
            conn.execute(
                update(InboxItem)
                .where(primary(InboxItem.id) == row_id)
                .values(payload=json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            )


def export_inbox(conn: Connection, platform: str, user_id: str) -> list[dict[str, Any]]:
    """The raw events they sent that are still kept (for replay after a crash), oldest first."""
    rows = conn.execute(
        select(
            col(InboxItem.bot_id),
            col(InboxItem.delivery_id),
            col(InboxItem.payload),
            col(InboxItem.received_at),
        )
        .where(col(InboxItem.platform) == platform, col(InboxItem.payload).contains(user_id, autoescape=True))
        .order_by(primary(InboxItem.id))
    ).all()
    found = []
    for bot_id, delivery_id, payload, received_at in rows:
        try:
            event = json.loads(payload)
        except ValueError:
            continue
        if _sent_by(event, user_id) or _sent_by(_first_object(event), user_id):
            found.append({"bot": bot_id, "id": delivery_id, "event": event, "received": received_at})
    return found


def has_audit(conn: Connection) -> bool:
    return inspect(conn).has_table(SafetyEvent.__tablename__)


def _anonymise_audit(conn: Connection, platform: str, user_id: str) -> None:
    if has_audit(conn):
        conn.execute(
            update(SafetyEvent)
            .where(col(SafetyEvent.platform) == platform, col(SafetyEvent.user_id) == user_id)
            .values(user_id=FORGOTTEN, chat_id="", excerpt="")
        )


def _first_object(event: Any) -> Any:
    """An update's one event object (Telegram: message, callback_query, …), or the event itself."""
    if isinstance(event, dict):
        for value in event.values():
            if isinstance(value, dict):
                return value
    return event


def _sent_by(obj: Any, user_id: str) -> bool:
    if not isinstance(obj, dict):
        return False
    for key in SENDER_KEYS:
        sender = obj.get(key)
        if isinstance(sender, dict) and str(sender.get("id", "")) == user_id:
            return True
    return False


def _strip_quotes(obj: Any, user_id: str) -> bool:
    """Remove every nested object written by the person (in place); True when one went."""
    changed = False
    if isinstance(obj, dict):
        for key in list(obj):
            value = obj[key]
            if isinstance(value, dict) and _sent_by(value, user_id):
                del obj[key]
                changed = True
            elif isinstance(value, dict | list):
                changed = _strip_quotes(value, user_id) or changed
    elif isinstance(obj, list):
        for item in obj:
            changed = _strip_quotes(item, user_id) or changed
    return changed
