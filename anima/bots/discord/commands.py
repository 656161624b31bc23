"""Slash commands: /character list|set|info, /reset, /memory, /forget, /voice on|off, /persona set|show|clear,
/safety (safety.py), /sing (sing.py).

Answers about a person's own data and settings are ephemeral (only they see them); errors are
ephemeral and say what to do. Binding a character in a server channel needs Manage Channels.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands

from anima.bots.discord.preferences import PLATFORM, Persona
from anima.bots.discord.safety import safety_commands
from anima.bots.discord.sing import sing_command
from anima.bots.discord.soul import soul_command_for
from anima.characters.macros import expand
from anima.core.messages import ConversationKey
from anima.errors import AnimaError

if TYPE_CHECKING:
    from anima.bots.discord.adapter import DiscordAdapter

log = logging.getLogger(__name__)

INFO_LIMIT = 1800
Button = discord.ui.Button["ForgetConfirmation"]


class CommandRefused(AnimaError):
    """The person may not do this here; the message says what they can do instead."""


def install_commands(tree: app_commands.CommandTree, adapter: DiscordAdapter) -> None:
    """Add Anima's commands to `tree` (synced to Discord at start)."""
    runtime = adapter.runtime
    mentions = adapter.mentions

    async def say(interaction: discord.Interaction, text: str, *, ephemeral: bool = True) -> None:
        await interaction.response.send_message(text, ephemeral=ephemeral, allowed_mentions=mentions)

    def require_manage_channels(interaction: discord.Interaction, what: str) -> None:
        if interaction.guild is not None and not interaction.permissions.manage_channels:
            raise CommandRefused(
                f"{what} in a server channel needs the Manage Channels permission; ask a server admin. "
                "You can always talk to any character by starting your message with its name."
            )

    async def card_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        wanted = current.lower()
        cards = sorted(runtime.characters.cards.values(), key=lambda c: c.name.lower())
        return [
            app_commands.Choice(name=f"{c.name} ({c.id})"[:100], value=c.id)
            for c in cards
            if wanted in c.name.lower() or wanted in c.id.lower()
        ][:25]

    async def conversation_key(interaction: discord.Interaction) -> tuple[ConversationKey, str]:
        card = await adapter.character_here(interaction.channel)
        key = ConversationKey(PLATFORM, str(interaction.channel_id), str(interaction.user.id), card.id)
        return key, card.name

    character = app_commands.Group(name="character", description="The characters of this bot")

    @character.command(name="list", description="Every character you can talk to")
    async def character_list(interaction: discord.Interaction) -> None:
        here = await adapter.character_here(interaction.channel)
        lines = []
        for card in sorted(runtime.characters.cards.values(), key=lambda c: c.name.lower()):
            marker = " ← answers here" if card.id == here.id else ""
            tags = f" — {', '.join(card.tags)}" if card.tags else ""
            lines.append(f"**{card.name}** (`{card.id}`){tags}{marker}")
        lines.append("-# Start a message with a name to talk to that character; /character set binds one.")
        await say(interaction, "\n".join(lines))

    @character.command(name="set", description="Bind a character to this channel or thread (Manage Channels)")
    @app_commands.describe(name="the character's id or name")
    @app_commands.autocomplete(name=card_names)
    async def character_set(interaction: discord.Interaction, name: str) -> None:
        require_manage_channels(interaction, "Binding a character")
        card = runtime.characters.get(name)
        await adapter.preferences.bind(str(interaction.channel_id), card.id)
        where = "this thread" if isinstance(interaction.channel, discord.Thread) else "this channel"
        await say(interaction, f"**{card.name}** now answers every message in {where}.", ephemeral=False)

    @character.command(name="info", description="Who a character is")
    @app_commands.describe(name="the character's id or name (default: the one answering here)")
    @app_commands.autocomplete(name=card_names)
    async def character_info(interaction: discord.Interaction, name: str | None = None) -> None:
        card = runtime.characters.get(name) if name else await adapter.character_here(interaction.channel)
        values = {"char": card.name, "user": interaction.user.display_name}
        text = f"**{card.name}** (`{card.id}`)\n{expand(card.description, values)}"
        if card.personality:
            text += f"\n*{expand(card.personality, values)}*"
        await say(interaction, text[:INFO_LIMIT])

    @app_commands.command(name="reset", description="Start a fresh conversation with the character here")
    async def reset(interaction: discord.Interaction) -> None:
        key, name = await conversation_key(interaction)
        conversation = await runtime.memory.conversation(key, interaction.user.display_name)
        await runtime.memory.reset(conversation)
        await say(
            interaction,
            f"{name} starts afresh with you here. Earlier messages stay stored: /memory shows them, "
            "/forget deletes everything.",
        )

    @app_commands.command(name="memory", description="What the character here keeps about you")
    async def memory(interaction: discord.Interaction) -> None:
        key, name = await conversation_key(interaction)
        view = await runtime.memory.view(key, interaction.user.display_name)
        since = view.first_seen.strftime("%Y-%m-%d") if view.first_seen else "today"
        lines = [
            f"{name} has known you here since {since}: {view.total_messages} messages stored, "
            f"{view.in_history} in the current conversation."
        ]
        for stored in view.recent:
            who = "you" if stored.role == "user" else name
            lines.append(f"-# {stored.created_at:%Y-%m-%d %H:%M} {who}: {stored.content[:150]}")
        await say(interaction, "\n".join(lines)[:INFO_LIMIT])

    @app_commands.command(name="forget", description="Delete everything stored about you on Discord")
    async def forget(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "This deletes every message, memory and setting stored about you on Discord, with every "
            "character. It cannot be undone.",
            view=ForgetConfirmation(adapter, interaction.user.id),
            ephemeral=True,
            allowed_mentions=mentions,
        )

    @app_commands.command(name="voice", description="Voice replies to you in this channel on or off")
    @app_commands.describe(mode="on: characters answer you with voice messages too; off: text only")
    async def voice(interaction: discord.Interaction, mode: Literal["on", "off"]) -> None:
        channel, user = str(interaction.channel_id), str(interaction.user.id)
        await adapter.preferences.set_voice(channel, user, mode == "on")
        await say(interaction, f"Voice replies to you are {mode} here.")

    persona = app_commands.Group(name="persona", description="How characters see you")

    @persona.command(name="set", description="Describe yourself to the characters (used for {{user}})")
    @app_commands.describe(description="who you are, in a sentence or two", name="what characters call you")
    async def persona_set(
        interaction: discord.Interaction,
        description: app_commands.Range[str, 1, 500],
        name: app_commands.Range[str, 1, 32] | None = None,
    ) -> None:
        await adapter.preferences.set_persona(str(interaction.user.id), Persona(description, name))
        called = name or interaction.user.display_name
        await say(interaction, f"Characters now know you as **{called}**: {description}")

    @persona.command(name="show", description="How characters see you now")
    async def persona_show(interaction: discord.Interaction) -> None:
        current = await adapter.preferences.persona(str(interaction.user.id))
        if current is None:
            await say(
                interaction, "You have no persona: characters know your display name. /persona set adds one."
            )
            return
        await say(interaction, f"**{current.name or interaction.user.display_name}**: {current.description}")

    @persona.command(name="clear", description="Forget your persona")
    async def persona_clear(interaction: discord.Interaction) -> None:
        await adapter.preferences.set_persona(str(interaction.user.id), None)
        await say(interaction, "Your persona is gone; characters know only your display name.")

    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, AnimaError | app_commands.CheckFailure | app_commands.TransformerError):
            text = str(cause)
        else:
            log.error("/%s failed", interaction.command.name if interaction.command else "?", exc_info=cause)
            text = "Something went wrong on our side; it has been logged. Please try again in a moment."
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=mentions)
        else:
            await say(interaction, text)

    command: app_commands.Command[Any, ..., Any] | app_commands.Group
    for command in (character, reset, memory, forget, voice, persona, safety_commands(adapter)):
        tree.add_command(command)
    tree.add_command(sing_command(adapter))
    tree.add_command(soul_command_for(adapter))  # bot admins review what characters learn
    tree.on_error = on_error  # type: ignore[method-assign]  # discord.py's documented way to set the tree's error handler


class ForgetConfirmation(discord.ui.View):
    """The buttons under /forget's question; only the person who asked can press them."""

    def __init__(self, adapter: DiscordAdapter, user_id: int) -> None:
        super().__init__(timeout=300)
        self.adapter = adapter
        self.user_id = user_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Delete everything", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: Button) -> None:
        user_id = str(self.user_id)
        deleted = await self.adapter.runtime.memory.forget_user(PLATFORM, user_id)
        self.adapter.preferences.forget_user(user_id)
        self.stop()
        await interaction.response.edit_message(
            content=f"Done: {deleted} messages and everything else stored about you on Discord are deleted.",
            view=None,
            allowed_mentions=self.adapter.mentions,
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: Button) -> None:
        self.stop()
        await interaction.response.edit_message(
            content="Nothing was deleted.", view=None, allowed_mentions=self.adapter.mentions
        )
