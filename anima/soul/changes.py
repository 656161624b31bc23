"""What soul growth talks about: a proposed change, a learned entry, a version, and the LLM's JSON."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from anima.characters.card import SOUL_KINDS, SoulKind
from anima.llm.json_answer import listed_objects, unit_fraction

MAX_TEXT = 300  # characters in one learned line
SHARED_KINDS: frozenset[str] = frozenset({"backstory", "habit", "opinion"})  # every chat of the character


@dataclass(frozen=True)
class Change:
    """One change the character's LLM proposes, with the stored messages that justify it."""

    kind: SoulKind
    text: str
    evidence: tuple[int, ...]  # message ids
    confidence: float


@dataclass(frozen=True)
class Source:
    """The conversation a change came from: a relationship change belongs to its user."""

    platform: str
    user_id: str
    display_name: str
    conversation_id: int | None = None
    bot_id: str = ""  # the bot account the conversation is held through
    private: bool = False  # a private chat: what is learned there stays out of groups unless shared


@dataclass(frozen=True)
class Entry:
    """One learned line in a soul version."""

    id: int
    kind: str
    text: str
    platform: str = ""  # relationship lines: whose ("" for shared lines)
    user_id: str = ""
    origin_id: int = 0
    added_version: int = 0
    bot_id: str = ""  # relationship lines: the bot they were learned through
    source_platform: str = ""  # a shared line learned in this person's private chat ("": elsewhere)
    source_user_id: str = ""

    @property
    def shared(self) -> bool:
        return not self.user_id

    @property
    def learned_in_private(self) -> bool:
        return bool(self.source_user_id)


@dataclass(frozen=True)
class Proposal:
    id: int
    character_id: str
    kind: str
    text: str
    platform: str
    user_id: str
    source_platform: str
    source_user_id: str
    conversation_id: int | None
    evidence: tuple[int, ...]
    confidence: float
    status: str  # pending | applied | rejected
    reason: str
    decided_by: str
    version: int | None
    created_at: datetime
    decided_at: datetime | None
    source_bot: str = ""  # the bot account of the conversation it came from ("": before bots were told apart)
    source_private: bool = False  # whether that conversation was a private chat


@dataclass(frozen=True)
class Version:
    character_id: str
    version: int
    action: str  # apply | rollback
    note: str
    approved_by: str
    proposal_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Evidence:
    """A message behind a proposal, or the note that it was deleted (/forget)."""

    message_id: int
    role: str = ""
    content: str = ""
    created_at: datetime | None = None

    @property
    def deleted(self) -> bool:
        return not self.role


def changes_from_llm(answer: str, cited: Collection[int]) -> list[Change]:
    """Changes from the LLM's JSON ({"changes": [{"kind", "text", "evidence", "confidence"}]}).

    A change needs a known kind, some text and at least one message of `cited` (the transcript it
    was shown) as evidence; anything else is skipped: a weak model's JSON is often broken.
    """
    changes = []
    for item in listed_objects(answer, "changes"):
        if item.get("kind") not in SOUL_KINDS:
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        raw = item.get("evidence")
        ids = [_as_int(i) for i in (raw if isinstance(raw, list) else [])]
        evidence = tuple(dict.fromkeys(i for i in ids if i is not None and i in cited))
        if not evidence:
            continue
        confidence = unit_fraction(item.get("confidence"))
        changes.append(Change(item["kind"], " ".join(text.split())[:MAX_TEXT], evidence, confidence))
    return changes


def _as_int(value: object) -> int | None:
    """A message id as the model wrote it: 12, "12" or "#12"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("#").isdigit():
        return int(value.strip().lstrip("#"))
    return None
