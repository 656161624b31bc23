"""Catching up at start: messages sent while the bot was down, read back from channel history.

discord.py identifies afresh on every start, and a new gateway session replays nothing, so what
people wrote while no process ran is never delivered. The inbox knows, per channel, the newest
message the bot took and any it took but never answered (a kill mid-reply); history is read after
that point, bounded in count and age, and every message addressed to the bot is answered in order.
Only channels where the bot was addressed within the age bound are read: one request per channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import discord
from sqlalchemy import select

from anima.memory.models import InboxItem, utcnow
from anima.memory.store import MemoryStore

CATCH_UP_MESSAGES = 50  # per channel, oldest first
CATCH_UP_AGE = timedelta(hours=12)  # older messages are not answered after a restart


@dataclass(frozen=True)
class Seen:
    """What the inbox records of one message: enough to find its channel again."""

    channel_id: int
    guild_id: int | None

    @classmethod
    def of(cls, message: discord.Message) -> Seen:
        return cls(message.channel.id, message.guild.id if message.guild else None)

    def payload(self) -> str:
        return json.dumps({"channel_id": str(self.channel_id), "guild_id": str(self.guild_id or "")})

    @classmethod
    def parse(cls, payload: str) -> Seen:
        data = json.loads(payload)
        return cls(int(data["channel_id"]), int(data["guild_id"]) if data.get("guild_id") else None)


@dataclass(frozen=True)
class ChannelMark:
    """Read `channel_id`'s history after message id `after`."""

    channel_id: int
    guild_id: int | None
    after: int


async def channel_marks(
    memory: MemoryStore, platform: str, bot_id: str, now: datetime | None = None
) -> list[ChannelMark]:
    """Where to resume each channel the bot took a message from within CATCH_UP_AGE: after the newest
    message taken, or just before the oldest taken and never answered."""
    since = (now or utcnow()) - CATCH_UP_AGE
    query = select(InboxItem.delivery_id, InboxItem.payload, InboxItem.answered_at).where(
        InboxItem.platform == platform,
        InboxItem.bot_id == bot_id,
        InboxItem.received_at >= since,  # type: ignore[operator]
    )
    rows = await memory.run(lambda conn: conn.execute(query).all())
    newest: dict[int, int] = {}
    unanswered: dict[int, int] = {}
    guilds: dict[int, int | None] = {}
    for delivery_id, payload, answered_at in rows:
        seen, message_id = Seen.parse(payload), int(delivery_id)
        guilds[seen.channel_id] = seen.guild_id
        newest[seen.channel_id] = max(newest.get(seen.channel_id, 0), message_id)
        if answered_at is None:
            unanswered[seen.channel_id] = min(unanswered.get(seen.channel_id, message_id), message_id)
    return [
        ChannelMark(channel, guilds[channel], unanswered[channel] - 1 if channel in unanswered else last)
        for channel, last in newest.items()
    ]
