"""Catching up at start: messages sent while the bot was down, read back from channel history.

discord.py identifies afresh on every start, and a new gateway session replays nothing, so what
people wrote while no process ran is never delivered. The inbox knows the channels where the bot
took messages, and any it took but never answered (a kill mid-reply). Each such channel's newest
messages are read back (from the oldest unanswered one, if any), bounded in count and age; every
one addressed to the bot and not answered yet is answered, in order. The newest messages rather
than those after the last one taken: a message still waiting for its turn when the process died
was never taken, and may be older than one taken from somebody else. Only channels where the bot
was addressed within the age bound are read: one request per channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import discord

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
    """A channel to read back: its newest messages, or those after `after` (just before the oldest
    message taken and never answered)."""

    channel_id: int
    guild_id: int | None
    after: int | None


def channel_marks(taken: list[tuple[str, str, bool]]) -> list[ChannelMark]:
    """The channels of the messages taken lately (delivery id, payload, answered), each with where
    to read from: after the oldest one never answered, or its newest messages."""
    unanswered: dict[int, int] = {}
    guilds: dict[int, int | None] = {}
    for delivery_id, payload, answered in taken:
        seen, message_id = Seen.parse(payload), int(delivery_id)
        guilds[seen.channel_id] = seen.guild_id
        if not answered:
            unanswered[seen.channel_id] = min(unanswered.get(seen.channel_id, message_id), message_id)
    return [
        ChannelMark(channel, guild, unanswered[channel] - 1 if channel in unanswered else None)
        for channel, guild in guilds.items()
    ]
