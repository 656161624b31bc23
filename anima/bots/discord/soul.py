"""/soul show|diff|approve|reject|history|rollback: a character's growth, for the bot's admins (card owners).

Every answer is ephemeral: the evidence behind a change is what someone said to the character.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from anima.bots.discord.preferences import PLATFORM
from anima.errors import AnimaError
from anima.soul.chat import ADMINS_ONLY, soul_command

if TYPE_CHECKING:
    from anima.bots.discord.adapter import DiscordAdapter

DISCORD_LIMIT = 1900
Action = Literal["show", "diff", "history", "approve", "reject", "rollback"]


class SoulRefused(AnimaError):
    """The person is not one of the bot's admins."""


def soul_command_for(adapter: DiscordAdapter) -> app_commands.Command:
    """The /soul command; a refusal raises, and the tree's error handler answers it privately."""
    runtime, mentions = adapter.runtime, adapter.mentions
    admins = frozenset(adapter.settings.admins)

    @app_commands.command(name="soul", description="What the character here learned (bot admins)")
    @app_commands.describe(
        action="show, diff (pending changes), history, approve, reject or rollback",
        target="the change's number (approve, reject) or the version (show, rollback)",
    )
    async def soul(
        interaction: discord.Interaction, action: Action = "show", target: str | None = None
    ) -> None:
        if str(interaction.user.id) not in admins:
            raise SoulRefused(ADMINS_ONLY)
        card = await adapter.character_here(interaction.channel)
        words = [action, *(target.split() if target else [])]
        text = await soul_command(runtime.soul, card, words, f"{PLATFORM}:{interaction.user.id}")
        if len(text) > DISCORD_LIMIT:
            text = text[: DISCORD_LIMIT - 2] + " …"
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=mentions)

    return soul
