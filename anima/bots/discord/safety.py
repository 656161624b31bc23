"""/safety show|rating|block|unblock|reset: a server's stricter safety override, set by its admins.

The override covers the whole server (every channel and thread), like the Manage Server permission
that changes it; the character shown is the one answering in the channel the command ran in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from anima.bots.discord.preferences import PLATFORM
from anima.characters.card import CharacterCard
from anima.errors import AnimaError
from anima.safety import ChatOverride, override_scope, overrides

if TYPE_CHECKING:
    from anima.bots.discord.adapter import DiscordAdapter

SERVERS_ONLY = "Safety overrides are set per server; in a direct message the character's own settings apply."
MANAGE_SERVER = (
    "Changing this server's safety settings needs the Manage Server permission; ask a server admin."
)
Step = Callable[[ChatOverride, CharacterCard], overrides.OverrideChange]


class SafetyRefused(AnimaError):
    """The person may not change the safety settings here; the message says why."""


def safety_commands(adapter: DiscordAdapter) -> app_commands.Group:
    """The /safety group; refusals raise, and the tree's error handler answers them privately."""
    runtime, mentions = adapter.runtime, adapter.mentions
    policy = runtime.pipeline.safety
    group = app_commands.Group(
        name="safety", description="This server's safety settings; admins can make them stricter"
    )

    def scope(interaction: discord.Interaction) -> str:
        if interaction.guild_id is None:
            raise SafetyRefused(SERVERS_ONLY)
        return override_scope(str(interaction.channel_id), str(interaction.guild_id))

    def require_manage_guild(interaction: discord.Interaction) -> None:
        if not interaction.permissions.manage_guild:
            raise SafetyRefused(MANAGE_SERVER)

    async def change(interaction: discord.Interaction, step: Step) -> None:
        where = scope(interaction)
        require_manage_guild(interaction)
        card = await adapter.character_here(interaction.channel)
        current = await policy.override_for(PLATFORM, where)
        result = step(current, card)
        if result.override != current:
            await policy.set_override(PLATFORM, where, result.override.rating, result.override.blocked_topics)
        await interaction.response.send_message(result.note, ephemeral=True, allowed_mentions=mentions)

    @group.command(name="show", description="The safety settings in effect here")
    async def show(interaction: discord.Interaction) -> None:
        where = scope(interaction)
        card = await adapter.character_here(interaction.channel)
        text = overrides.describe(card, await policy.override_for(PLATFORM, where), "in this server")
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=mentions)

    @group.command(name="rating", description="A stricter rating for this server (Manage Server)")
    @app_commands.describe(rating="general is the strictest; a card's stricter rating always stays")
    async def rating(interaction: discord.Interaction, rating: Literal["general", "teen"]) -> None:
        await change(interaction, lambda current, card: overrides.set_rating(current, card, rating))

    @group.command(name="block", description="Characters decline a topic in this server (Manage Server)")
    @app_commands.describe(topic="a word or phrase, e.g. football")
    async def block(interaction: discord.Interaction, topic: app_commands.Range[str, 1, 100]) -> None:
        await change(interaction, lambda current, card: overrides.block(current, card, topic))

    @group.command(name="unblock", description="Lift a topic this server blocked (Manage Server)")
    @app_commands.describe(topic="a topic blocked with /safety block")
    async def unblock(interaction: discord.Interaction, topic: app_commands.Range[str, 1, 100]) -> None:
        await change(interaction, lambda current, card: overrides.unblock(current, card, topic))

    @group.command(name="reset", description="Back to each character's own settings (Manage Server)")
    async def reset(interaction: discord.Interaction) -> None:
        await change(interaction, lambda current, card: overrides.reset())

    return group
