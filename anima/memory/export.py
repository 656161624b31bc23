"""Everything stored about one user, as JSON-ready data (`anima memory export`, the user's copy)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from anima.memory.forget import export_inbox, has_audit
from anima.memory.models import (
    Conversation,
    Fact,
    Message,
    Preference,
    SafetyEvent,
    SoulEntry,
    SoulProposal,
    Summary,
    User,
    as_utc,
)


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def export_user(conn: Connection, platform: str, platform_user_id: str) -> dict[str, Any] | None:
    """Everything forget deletes or anonymises (anima/memory/forget.py), as JSON; None if unknown."""
    user = conn.execute(
        select(User.id, User.display_name, User.created_at).where(
            User.platform == platform, User.platform_user_id == platform_user_id
        )
    ).first()
    if user is None:
        return None
    conversations = []
    rows = conn.execute(
        select(Conversation.id, Conversation.character_id, Conversation.chat_id, Conversation.created_at)
        .where(Conversation.user_id == user.id)
        .order_by(Conversation.id)
    ).all()
    for conv_id, character_id, chat_id, created_at in rows:
        messages = conn.execute(
            select(Message.role, Message.content, Message.created_at, Message.cut)
            .where(Message.conversation_id == conv_id)
            .order_by(Message.id)
        ).all()
        facts = conn.execute(
            select(
                Fact.topic,
                Fact.content,
                Fact.importance,
                Fact.happened_at,
                Fact.source,
                Fact.created_at,
                Fact.superseded_at,
            )
            .where(Fact.conversation_id == conv_id)
            .order_by(Fact.id)
        ).all()
        summaries = conn.execute(
            select(Summary.content, Summary.started_at, Summary.ended_at)
            .where(Summary.conversation_id == conv_id)
            .order_by(Summary.id)
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
            }
        )
    preferences = conn.execute(
        select(Preference.chat_id, Preference.key, Preference.value).where(
            Preference.platform == platform,
            or_(Preference.user_id == platform_user_id, Preference.chat_id == platform_user_id),
        )
    ).all()
    proposals = conn.execute(
        select(SoulProposal.character_id, SoulProposal.kind, SoulProposal.text, SoulProposal.status)
        .where(
            ((SoulProposal.platform == platform) & (SoulProposal.user_id == platform_user_id))
            | ((SoulProposal.source_platform == platform) & (SoulProposal.source_user_id == platform_user_id))
        )
        .order_by(SoulProposal.id)
    ).all()
    safety: list[Any] = []
    if has_audit(conn):
        safety = conn.execute(
            select(
                SafetyEvent.chat_id,
                SafetyEvent.character_id,
                SafetyEvent.stage,
                SafetyEvent.check,
                SafetyEvent.action,
                SafetyEvent.excerpt,
                SafetyEvent.created_at,
            )
            .where(SafetyEvent.platform == platform, SafetyEvent.user_id == platform_user_id)
            .order_by(SafetyEvent.id)
        ).all()
    # what characters learned about their relationship with the user (anima/soul), in any version
    relationships = conn.execute(
        select(SoulEntry.character_id, SoulEntry.text, SoulEntry.created_at, SoulEntry.removed_version)
        .where(SoulEntry.platform == platform, SoulEntry.user_id == platform_user_id)
        .order_by(SoulEntry.id)
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
