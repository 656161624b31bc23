"""Souls in the database: proposals, learned entries, versions; approve, reject, roll back.

A learned entry belongs to the versions from `added_version` until `removed_version`, so any version
is a query away and a rollback is a new version that removes and copies back lines: history only
grows. The learned layer of each character is cached for the prompt (see `layer`): a message costs
no query while nothing changed, and the cache is re-read at most every REFRESH_S for changes made by
another process (`anima soul approve` beside a running bot).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select, update
from sqlmodel import col

from anima.characters.card import CardGrowth
from anima.errors import SoulError
from anima.memory.models import (
    Conversation,
    Message,
    SoulEntry,
    SoulProposal,
    SoulVersion,
    User,
    as_utc,
    insert_row,
    inserted_id,
    primary,
)
from anima.memory.store import MemoryStore
from anima.soul.changes import Change, Entry, Evidence, Proposal, Source, Version

log = logging.getLogger(__name__)
REFRESH_S = 10.0


@dataclass
class _Cached:
    entries: list[Entry]
    loaded_at: float


class SoulStore:
    """Every character's soul; one per runtime (the pipeline's `soul`), or opened by `anima soul`."""

    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory
        self._layers: dict[str, _Cached] = {}
        self.loads = 0  # learned layers read from the database (the cache's misses)
        memory.forget_listeners.append(lambda _platform, _user: self._layers.clear())

    # ------------------------------------------------------------------ the prompt's layer
    async def layer(self, character_id: str, platform: str, user_id: str) -> list[Entry]:
        """The current learned lines this user's chat may see: shared ones and their own relationship."""
        cached = self._layers.get(character_id)
        if cached is None or time.monotonic() - cached.loaded_at > REFRESH_S:
            entries = await self.entries(character_id)
            cached = self._layers[character_id] = _Cached(entries, time.monotonic())
            self.loads += 1
        return [e for e in cached.entries if e.shared or (e.platform, e.user_id) == (platform, user_id)]

    def _changed(self, character_id: str) -> None:
        self._layers.pop(character_id, None)

    # ------------------------------------------------------------------ reading
    async def entries(self, character_id: str, version: int | None = None) -> list[Entry]:
        """The learned lines of `version` (default: the current one), in the order they were learned."""
        where = [col(SoulEntry.character_id) == character_id]
        if version is None:
            where.append(col(SoulEntry.removed_version).is_(None))
        else:
            where += [
                col(SoulEntry.added_version) <= version,
                or_(col(SoulEntry.removed_version).is_(None), col(SoulEntry.removed_version) > version),
            ]
        query = (
            select(
                primary(SoulEntry.id),
                col(SoulEntry.kind),
                col(SoulEntry.text),
                col(SoulEntry.platform),
                col(SoulEntry.user_id),
                col(SoulEntry.origin_id),
                col(SoulEntry.added_version),
                col(SoulEntry.bot_id),
                col(SoulEntry.source_platform),
                col(SoulEntry.source_user_id),
            )
            .where(*where)
            .order_by(col(SoulEntry.origin_id), primary(SoulEntry.id))
        )
        rows = await self.memory.read(lambda conn: conn.execute(query).all())
        return [Entry(**row._asdict()) for row in rows]  # the columns are named as its fields

    async def version(self, character_id: str) -> int:
        return await self.memory.read(lambda conn: _current_version(conn, character_id))

    async def history(self, character_id: str) -> list[Version]:
        query = (
            select(
                col(SoulVersion.character_id),
                col(SoulVersion.version),
                col(SoulVersion.action),
                col(SoulVersion.note),
                col(SoulVersion.approved_by),
                col(SoulVersion.proposal_id),
                col(SoulVersion.created_at),
            )
            .where(col(SoulVersion.character_id) == character_id)
            .order_by(col(SoulVersion.version))
        )
        rows = await self.memory.read(lambda conn: conn.execute(query).all())
        return [Version(*row[:-1], as_utc(row[-1])) for row in rows]

    async def proposals(
        self, character_id: str | None = None, status: str | None = "pending"
    ) -> list[Proposal]:
        """Proposals, oldest first: pending ones by default, every one with status None."""
        query = select(SoulProposal)
        if character_id is not None:
            query = query.where(col(SoulProposal.character_id) == character_id)
        if status is not None:
            query = query.where(col(SoulProposal.status) == status)
        rows = await self.memory.read(
            lambda conn: conn.execute(query.order_by(primary(SoulProposal.id))).all()
        )
        return [_proposal(row) for row in rows]

    async def proposal(self, proposal_id: int) -> Proposal:
        query = select(SoulProposal).where(primary(SoulProposal.id) == proposal_id)
        row = await self.memory.read(lambda conn: conn.execute(query).first())
        if row is None:
            raise SoulError(f"no soul proposal #{proposal_id}; `anima soul diff CHARACTER` lists them")
        return _proposal(row)

    async def evidence(self, proposal: Proposal) -> list[Evidence]:
        """The messages a proposal cites, in order; a message deleted since (/forget) says so."""
        query = select(
            primary(Message.id), col(Message.role), col(Message.content), col(Message.created_at)
        ).where(primary(Message.id).in_(proposal.evidence))
        if proposal.conversation_id is not None:
            query = query.where(col(Message.conversation_id) == proposal.conversation_id)
        rows = {row[0]: row for row in await self.memory.read(lambda conn: conn.execute(query).all())}
        return [
            Evidence(i, rows[i][1], rows[i][2], as_utc(rows[i][3])) if i in rows else Evidence(i)
            for i in proposal.evidence
        ]

    async def applied_since(self, character_id: str, since: datetime, by: str = "auto") -> int:
        """How many changes `by` applied to the character since `since` (auto mode's daily bound)."""
        query = select(func.count()).where(
            col(SoulVersion.character_id) == character_id,
            col(SoulVersion.approved_by) == by,
            col(SoulVersion.action) == "apply",
            col(SoulVersion.created_at) >= since,
        )
        return await self.memory.read(lambda conn: conn.execute(query).scalar_one())

    async def source(self, conversation_id: int) -> Source:
        """Whose conversation this is (platform, user id, display name)."""
        query = (
            select(
                col(User.platform),
                col(User.platform_user_id),
                col(User.display_name),
                col(Conversation.bot_id),
                col(Conversation.private),
            )
            .join(Conversation, col(Conversation.user_id) == primary(User.id))
            .where(primary(Conversation.id) == conversation_id)
        )
        row = await self.memory.read(lambda conn: conn.execute(query).one())
        return Source(row[0], row[1], row[2], conversation_id, row[3], bool(row[4]))

    async def people(self, character_id: str) -> list[str]:
        """The display names of everyone who has talked with the character (for the privacy check)."""
        query = (
            select(col(User.display_name))
            .join(Conversation, col(Conversation.user_id) == primary(User.id))
            .where(col(Conversation.character_id) == character_id)
            .distinct()
        )
        return list(await self.memory.read(lambda conn: conn.execute(query).scalars().all()))

    # ------------------------------------------------------------------ writing
    async def propose(
        self,
        character_id: str,
        change: Change,
        source: Source,
        status: str = "pending",
        reason: str = "",
        decided_by: str = "",
    ) -> int:
        """Store a proposal (a rejected one too, with why: the owner sees what the safety stage held back)."""
        private = change.kind == "relationship"
        now = self.memory.clock()
        values = {
            "character_id": character_id,
            "kind": change.kind,
            "text": change.text,
            "platform": source.platform if private else "",
            "user_id": source.user_id if private else "",
            "source_platform": source.platform,
            "source_user_id": source.user_id,
            "source_bot": source.bot_id,
            "source_private": source.private,
            "conversation_id": source.conversation_id,
            "evidence": json.dumps(list(change.evidence)),
            "confidence": change.confidence,
            "status": status,
            "reason": reason,
            "decided_by": decided_by,
            "created_at": now,
            "decided_at": now if status != "pending" else None,
        }
        return await self.memory.run(lambda conn: inserted_id(insert_row(conn, SoulProposal, **values)))

    async def approve(self, proposal_id: int, by: str, growth: CardGrowth | None = None) -> Version:
        """Apply a pending proposal as a new version; `growth` (the card's) refuses protected kinds."""
        proposal = await self.proposal(proposal_id)
        if proposal.status != "pending":
            raise SoulError(f"proposal #{proposal_id} is already {proposal.status}")
        if growth is not None and proposal.kind in growth.protected:
            raise SoulError(
                f"proposal #{proposal_id} changes {proposal.kind}, which the card's growth.protected keeps "
                "fixed; reject it, or edit the card"
            )
        now = self.memory.clock()

        def work(conn: Connection) -> Version:
            claimed = conn.execute(
                update(SoulProposal)
                .where(primary(SoulProposal.id) == proposal_id, col(SoulProposal.status) == "pending")
                .values(status="applied", decided_by=by, decided_at=now)
            ).rowcount
            if not claimed:
                raise SoulError(f"proposal #{proposal_id} was decided meanwhile")
            version = _current_version(conn, proposal.character_id) + 1
            entry_id = inserted_id(
                insert_row(
                    conn,
                    SoulEntry,
                    **_entry_of(proposal),
                    origin_id=0,
                    proposal_id=proposal.id,
                    added_version=version,
                    created_at=now,
                )
            )
            conn.execute(
                update(SoulEntry).where(primary(SoulEntry.id) == entry_id).values(origin_id=entry_id)
            )
            conn.execute(
                update(SoulProposal).where(primary(SoulProposal.id) == proposal_id).values(version=version)
            )
            note = f"+ {proposal.kind}: {proposal.text}"
            return _add_version(conn, proposal.character_id, version, "apply", note, by, proposal.id, now)

        applied = await self.memory.run(work)
        self._changed(proposal.character_id)
        return applied

    async def reject(self, proposal_id: int, by: str, reason: str = "rejected by the owner") -> Proposal:
        proposal = await self.proposal(proposal_id)
        if proposal.status != "pending":
            raise SoulError(f"proposal #{proposal_id} is already {proposal.status}")
        now = self.memory.clock()
        change = (
            update(SoulProposal)
            .where(primary(SoulProposal.id) == proposal_id, col(SoulProposal.status) == "pending")
            .values(status="rejected", reason=reason, decided_by=by, decided_at=now)
        )
        await self.memory.run(lambda conn: conn.execute(change))
        return await self.proposal(proposal_id)

    async def rollback(self, character_id: str, version: int, by: str) -> Version:
        """A new version whose learned lines are exactly those of `version` (0: the card alone)."""
        now = self.memory.clock()

        def work(conn: Connection) -> Version:
            current = _current_version(conn, character_id)
            if not 0 <= version <= current:
                raise SoulError(
                    f"{character_id} has soul versions 0 to {current}; `anima soul history {character_id}` "
                    "lists them"
                )
            new = current + 1
            live = _rows(conn, character_id, current)
            wanted = _rows(conn, character_id, version)
            keep = {row.origin_id for row in wanted}
            gone = [row.id for row in live if row.origin_id not in keep]
            if gone:
                conn.execute(
                    update(SoulEntry).where(primary(SoulEntry.id).in_(gone)).values(removed_version=new)
                )
            have = {row.origin_id for row in live}
            for row in wanted:
                if row.origin_id not in have:  # a line the current version lacks comes back as a copy
                    copy = {**row._mapping, "added_version": new, "removed_version": None, "created_at": now}
                    del copy["id"]
                    insert_row(conn, SoulEntry, **copy)
            note = f"rolled back to version {version}"
            return _add_version(conn, character_id, new, "rollback", note, by, None, now)

        made = await self.memory.run(work)
        self._changed(character_id)
        return made


def _current_version(conn: Connection, character_id: str) -> int:
    query = select(func.max(col(SoulVersion.version))).where(col(SoulVersion.character_id) == character_id)
    return conn.execute(query).scalar() or 0


def _rows(conn: Connection, character_id: str, version: int) -> Sequence[Row[Any]]:
    live = or_(col(SoulEntry.removed_version).is_(None), col(SoulEntry.removed_version) > version)
    query = select(SoulEntry).where(
        and_(col(SoulEntry.character_id) == character_id, col(SoulEntry.added_version) <= version, live)
    )
    return conn.execute(query).all()


def _add_version(
    conn: Connection,
    character_id: str,
    version: int,
    action: str,
    note: str,
    by: str,
    proposal_id: int | None,
    now: datetime,
) -> Version:
    insert_row(
        conn,
        SoulVersion,
        character_id=character_id,
        version=version,
        action=action,
        note=note[:500],
        approved_by=by,
        proposal_id=proposal_id,
        created_at=now,
    )
    return Version(character_id, version, action, note, by, proposal_id, now)


def _proposal(row: Row[Any]) -> Proposal:
    try:
        evidence = tuple(int(i) for i in json.loads(row.evidence))
    except (ValueError, TypeError):
        evidence = ()
    return Proposal(
        row.id,
        row.character_id,
        row.kind,
        row.text,
        row.platform,
        row.user_id,
        row.source_platform,
        row.source_user_id,
        row.conversation_id,
        evidence,
        row.confidence,
        row.status,
        row.reason,
        row.decided_by,
        row.version,
        as_utc(row.created_at),
        as_utc(row.decided_at) if row.decided_at else None,
        row.source_bot,
        bool(row.source_private),
    )


def _entry_of(proposal: Proposal) -> dict[str, str]:
    """The columns of the line a proposal adds. A personal line keeps the bot it was learned with; a
    shared line from someone's private chat keeps whose it was: it reaches groups only if they share."""
    learned_in_private = not proposal.user_id and proposal.source_private
    return {
        "character_id": proposal.character_id,
        "kind": proposal.kind,
        "text": proposal.text,
        "platform": proposal.platform,
        "user_id": proposal.user_id,
        "bot_id": proposal.source_bot if proposal.user_id else "",
        "source_platform": proposal.source_platform if learned_in_private else "",
        "source_user_id": proposal.source_user_id if learned_in_private else "",
    }
