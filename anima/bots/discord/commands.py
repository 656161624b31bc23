"""Discord's slash commands, made from anima.commands' one table: each row is a command whose
words are one text option (and /sing takes a score file). Errors are answered privately."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from anima.bots.discord.delivery import InteractionSender
from anima.commands import COMMANDS, Command
from anima.commands.table import FAILED

if TYPE_CHECKING:
    from anima.bots.discord.adapter import DiscordAdapter

log = logging.getLogger(__name__)


def install_commands(tree: app_commands.CommandTree[Any], adapter: DiscordAdapter) -> None:
    """Add every command of the table to `tree` (synced to Discord at start)."""
    for row in COMMANDS:
        tree.add_command(_slash(row, adapter))

    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("/%s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        await InteractionSender(interaction, adapter.mentions, private=True).send(False, content=FAILED)

    tree.on_error = on_error  # type: ignore[method-assign]  # discord.py's documented way to set it


def _slash(row: Command, adapter: DiscordAdapter) -> app_commands.Command[Any, Any, None]:
    name = row.name
    callback: Callable[..., Awaitable[None]]
    if row.takes_file:

        async def with_file(
            interaction: discord.Interaction, args: str = "", file: discord.Attachment | None = None
        ) -> None:
            await interaction.response.defer(thinking=True)  # a song takes longer than Discord waits
            await adapter.run(interaction, name, args, [file] if file else [])

        callback = app_commands.describe(args=row.args[:100], file="a MIDI or MusicXML file")(with_file)
    elif row.args:

        async def with_args(interaction: discord.Interaction, args: str = "") -> None:
            await adapter.run(interaction, name, args)

        callback = app_commands.describe(args=row.args[:100])(with_args)
    else:

        async def plain(interaction: discord.Interaction) -> None:
            await adapter.run(interaction, name)

        callback = plain
    return app_commands.Command(name=name, description=row.description[:100], callback=callback)
