"""The audit trail: every safety decision other than "allow", stored, and summarised for a report.

Rows go through the memory store's database runner (one transaction, off the event loop). The table
is created here on first use (`CREATE TABLE IF NOT EXISTS`), so the audit needs nothing from the
memory schema's migrations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from anima.errors import MemoryStoreError
from anima.memory.database import Database
from anima.memory.migrate import schema_lock
from anima.memory.models import SafetyEvent, primary, table_of, utcnow
from anima.safety.checks.pii import find_pii
from anima.safety.verdict import Verdict

ExcerptMode = Literal["text", "hash", "none"]
EXCERPT_CHARS = 80
_INSERT = table_of(SafetyEvent).insert()


def _create_table(conn: Connection) -> None:
    schema_lock(conn)  # another process may be creating it at the same moment
    table_of(SafetyEvent).create(conn, checkfirst=True)


@dataclass(frozen=True)
class Where:
    """Who and where a decision was about."""

    platform: str
    chat_id: str
    user_id: str
    character_id: str


def excerpt(text: str, mode: ExcerptMode) -> str:
    """The first words with PII masked, a hash to match repeats without keeping the words, or nothing."""
    if mode == "none":
        return ""
    if mode == "hash":
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    short = text[: EXCERPT_CHARS * 2]
    for found in reversed(find_pii(short)):
        short = short[: found.start] + f"[{found.kind}]" + short[found.end :]
    return short[:EXCERPT_CHARS] + ("…" if len(short) > EXCERPT_CHARS else "")


@dataclass(frozen=True)
class ReportRow:
    stage: str
    check: str
    action: str
    category: str
    count: int
    chats: int
    users: int
    last: datetime


class Audit:
    def __init__(self, database: Database, mode: ExcerptMode = "text") -> None:
        self.database = database
        self.mode = mode
        self._ready = False

    async def ensure_table(self) -> None:
        if not self._ready:
            await self.database.transaction(_create_table)
            self._ready = True

    async def record(self, where: Where, stage: str, decisions: Sequence[tuple[Verdict, str]]) -> None:
        """Store (verdict, the text it judged) pairs as rows, in one transaction (a flood's drops are not)."""
        decisions = [d for d in decisions if d[0].action != "drop"]
        if not decisions:
            return
        await self.ensure_table()
        now = utcnow()
        rows = [
            {
                "platform": where.platform,
                "chat_id": where.chat_id,
                "user_id": where.user_id,
                "character_id": where.character_id,
                "stage": stage,
                "check": verdict.check,
                "action": verdict.action,
                "category": verdict.category,
                "score": verdict.score,
                "reason": verdict.reason[:200],
                "excerpt": excerpt(judged, self.mode),
                "created_at": now,
            }
            for verdict, judged in decisions
        ]
        try:
            await self.database.transaction(lambda conn: conn.execute(_INSERT, rows))
        except SQLAlchemyError as exc:
            raise MemoryStoreError(f"could not store the safety audit: {exc}") from exc

    async def events(
        self, since: datetime | None = None, limit: int = 1000, until: datetime | None = None
    ) -> list[SafetyEvent]:
        """The newest events first, from `since` up to (not including) `until`."""
        await self.ensure_table()
        query = select(SafetyEvent).order_by(primary(SafetyEvent.id).desc()).limit(limit)
        if since is not None:
            query = query.where(col(SafetyEvent.created_at) >= since)
        if until is not None:
            query = query.where(col(SafetyEvent.created_at) < until)

        def work(conn: Connection) -> list[SafetyEvent]:
            return [SafetyEvent.model_validate(row._mapping) for row in conn.execute(query)]

        return await self.database.transaction(work)

    async def report(self, since: datetime | None = None, until: datetime | None = None) -> list[ReportRow]:
        """Counts per stage, check, action and category, most frequent first."""
        await self.ensure_table()
        query = (
            select(
                col(SafetyEvent.stage),
                col(SafetyEvent.check),
                col(SafetyEvent.action),
                col(SafetyEvent.category),
                func.count(),
                func.count(col(SafetyEvent.chat_id).distinct()),
                func.count(col(SafetyEvent.user_id).distinct()),
                func.max(col(SafetyEvent.created_at)),
            )
            .group_by(
                col(SafetyEvent.stage),
                col(SafetyEvent.check),
                col(SafetyEvent.action),
                col(SafetyEvent.category),
            )
            .order_by(func.count().desc())
        )
        if since is not None:
            query = query.where(col(SafetyEvent.created_at) >= since)
        if until is not None:
            query = query.where(col(SafetyEvent.created_at) < until)
        rows = await self.database.transaction(lambda conn: conn.execute(query).all())
        return [ReportRow(*row) for row in rows]
