"""Everything stored about one user, as JSON-ready data (`anima memory export`, the user's copy)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select
from sqlmodel import col

from anima.memory.forget import export_inbox, has_audit
from anima.memory.links import linked_accounts
from anima.memory.models import (
    Conversation,
    Fact,
    Message,
    Preference,
    SafetyEvent,
    SoulEntry,
    SoulProposal,
    StoredPicture,
    Summary,
    User,
    as_utc,
    primary,
)

# What is exported of each conversation: messages, facts, summaries and the pictures kept.
_OF_A_CONVERSATION = (
    (Message, "role content created_at cut"),
    (Fact, "topic content importance happened_at source created_at superseded_at"),
    (Summary, "content started_at ended_at"),
    (StoredPicture, "reference sha256 width height thumbnail created_at"),
)


def _rows(conn: Connection, table: Any, names: str, *where: Any) -> Sequence[Any]:
    """The columns `names` (space-separated) of `table`'s rows matching `where`, in stored order."""
    columns = [col(getattr(table, name)) for name in names.split()]
    return conn.execute(select(*columns).where(*where).order_by(primary(table.id))).all()


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def export_user(conn: Connection, platform: str, platform_user_id: str) -> dict[str, Any] | None:
    """Everything forget deletes or anonymises (anima/memory/forget.py), as JSON; None if unknown."""
    user = conn.execute(
        select(primary(User.id), col(User.display_name), col(User.created_at)).where(
            col(User.platform) == platform, col(User.platform_user_id) == platform_user_id
        )
    ).first()
    if user is None:
        return None
    conversations = []

    def person(table: Any) -> tuple[Any, ...]:
        """Rows of the user, in tables keyed by (platform, user_id)."""
        return col(table.platform) == platform, col(table.user_id) == platform_user_id

    rows = _rows(
        conn, Conversation, "id character_id chat_id created_at", col(Conversation.user_id) == user.id
    )
    for conv_id, character_id, chat_id, created_at in rows:
        messages, facts, summaries, pictures = (
            _rows(conn, table, names, col(table.conversation_id) == conv_id)
            for table, names in _OF_A_CONVERSATION
        )
        conversations.append(
            {
                "character": character_id,
                "chat_id": chat_id,
                "started": _iso(created_at),
                "messages": [
                    {"role": role, "text": text, "at": _iso(at), **({"cut": True} if cut else {})}
                    for role, text, at, cut in messages
                ],
                "facts": [
                    {
                        "topic": topic,
                        "fact": content,
                        "importance": importance,
                        "about": _iso(about),
                        "source": source,
                        "since": _iso(since),
                        "superseded": _iso(superseded),
                    }
                    for topic, content, importance, about, source, since, superseded in facts
                ],
                "summaries": [
                    {"text": text, "from": _iso(start), "to": _iso(end)} for text, start, end in summaries
                ],
                # what is kept of the pictures they sent: the platform's reference and the thumbnail
                "pictures": [
                    {
                        "reference": reference,
                        "sha256": sha256,
                        "width": width,
                        "height": height,
                        "thumbnail_jpeg_base64": base64.b64encode(thumbnail).decode("ascii"),
                        "at": _iso(at),
                    }
                    for reference, sha256, width, height, thumbnail, at in pictures
                ],
            }
        )
    preferences = conn.execute(
        select(col(Preference.chat_id), col(Preference.key), col(Preference.value)).where(
            col(Preference.platform) == platform,
            or_(col(Preference.user_id) == platform_user_id, col(Preference.chat_id) == platform_user_id),
        )
    ).all()
    proposals = _rows(
        conn,
        SoulProposal,
        "character_id kind text status",
        ((col(SoulProposal.platform) == platform) & (col(SoulProposal.user_id) == platform_user_id))
        | (
            (col(SoulProposal.source_platform) == platform)
            & (col(SoulProposal.source_user_id) == platform_user_id)
        ),
    )
    safety: Sequence[Any] = []
    if has_audit(conn):
        safety = _rows(
            conn,
            SafetyEvent,
            "chat_id character_id stage check action excerpt created_at",
            *person(SafetyEvent),
        )
    # what characters learned about their relationship with the user (anima/soul), in any version
    relationships = _rows(
        conn,
        SoulEntry,
        "character_id text created_at removed_version",
        *person(SoulEntry),
    )
    return {
        "platform": platform,
        "user_id": platform_user_id,
        "display_name": user.display_name,
        "first_seen": _iso(user.created_at),
        "linked_accounts": [
            {"platform": p, "user_id": u} for p, u in linked_accounts(conn, (platform, platform_user_id))
        ],
        "conversations": conversations,
        "preferences": [{"chat_id": c, "key": k, "value": json.loads(v)} for c, k, v in preferences],
        "relationships": [
            {"character": c, "text": text, "since": _iso(at), "current": removed is None}
            for c, text, at, removed in relationships
        ],
        "soul_proposals": [
            {"character": c, "kind": kind, "text": text, "status": status}
            for c, kind, text, status in proposals
        ],
        "safety_decisions": [
            {
                "chat_id": chat,
                "character": character,
                "stage": stage,
                "check": check,
                "action": action,
                "excerpt": excerpt,
                "at": _iso(at),
            }
            for chat, character, stage, check, action, excerpt, at in safety
        ],
        # the raw platform events they sent, kept until memory.inbox_retention_hours after their answer
        "inbox": [
            {**event, "received": _iso(event["received"])}
            for event in export_inbox(conn, platform, platform_user_id)
        ],
    }
