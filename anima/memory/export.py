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
    rows = conn.execute(
        select(
            primary(Conversation.id),
            col(Conversation.character_id),
            col(Conversation.chat_id),
            col(Conversation.created_at),
        )
        .where(col(Conversation.user_id) == user.id)
        .order_by(primary(Conversation.id))
    ).all()
    for conv_id, character_id, chat_id, created_at in rows:
        messages = conn.execute(
            select(col(Message.role), col(Message.content), col(Message.created_at), col(Message.cut))
            .where(col(Message.conversation_id) == conv_id)
            .order_by(primary(Message.id))
        ).all()
        facts = conn.execute(
            select(
                col(Fact.topic),
                col(Fact.content),
                col(Fact.importance),
                col(Fact.happened_at),
                col(Fact.source),
                col(Fact.created_at),
                col(Fact.superseded_at),
            )
            .where(col(Fact.conversation_id) == conv_id)
            .order_by(primary(Fact.id))
        ).all()
        summaries = conn.execute(
            select(col(Summary.content), col(Summary.started_at), col(Summary.ended_at))
            .where(col(Summary.conversation_id) == conv_id)
            .order_by(primary(Summary.id))
        ).all()
        pictures = conn.execute(
            select(
                col(StoredPicture.reference),
                col(StoredPicture.sha256),
                col(StoredPicture.width),
                col(StoredPicture.height),
                col(StoredPicture.thumbnail),
                col(StoredPicture.created_at),
            )
            .where(col(StoredPicture.conversation_id) == conv_id)
            .order_by(primary(StoredPicture.id))
        ).all()
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
    proposals = conn.execute(
        select(
            col(SoulProposal.character_id),
            col(SoulProposal.kind),
            col(SoulProposal.text),
            col(SoulProposal.status),
        )
        .where(
            ((col(SoulProposal.platform) == platform) & (col(SoulProposal.user_id) == platform_user_id))
            | (
                (col(SoulProposal.source_platform) == platform)
                & (col(SoulProposal.source_user_id) == platform_user_id)
            )
        )
        .order_by(primary(SoulProposal.id))
    ).all()
    safety: Sequence[Any] = []
    if has_audit(conn):
        safety = conn.execute(
            select(
                col(SafetyEvent.chat_id),
                col(SafetyEvent.character_id),
                col(SafetyEvent.stage),
                col(SafetyEvent.check),
                col(SafetyEvent.action),
                col(SafetyEvent.excerpt),
                col(SafetyEvent.created_at),
            )
            .where(col(SafetyEvent.platform) == platform, col(SafetyEvent.user_id) == platform_user_id)
            .order_by(primary(SafetyEvent.id))
        ).all()
    # what characters learned about their relationship with the user (anima/soul), in any version
    relationships = conn.execute(
        select(
            col(SoulEntry.character_id),
            col(SoulEntry.text),
            col(SoulEntry.created_at),
            col(SoulEntry.removed_version),
        )
        .where(col(SoulEntry.platform) == platform, col(SoulEntry.user_id) == platform_user_id)
        .order_by(primary(SoulEntry.id))
    ).all()
    return {
        "platform": platform,
        "user_id": platform_user_id,
        "display_name": user.display_name,
        "first_seen": _iso(user.created_at),
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
