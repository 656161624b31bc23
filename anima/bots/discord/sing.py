"""/sing on Discord: a melody in the notation, or a MIDI/MusicXML file, sung back as a voice message."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from anima.bots.discord.delivery import BotSpeaker
from anima.bots.discord.preferences import PLATFORM
from anima.commands.singing.checks import Refusal, admit, check_lyrics
from anima.commands.singing.request import score_for
from anima.core.messages import Incoming
from anima.voice.sing import ScoreError
from anima.voice.sing.files import MAX_FILE_BYTES
from anima.voice.sing.singer import Busy, Singer, busy_line

if TYPE_CHECKING:
    from anima.bots.discord.adapter import DiscordAdapter

SLOW_DOWN = "Too many messages at once; try again in a moment."


def sing_command(adapter: DiscordAdapter) -> app_commands.Command:
    singer = Singer(adapter.runtime.voice)

    @app_commands.command(name="sing", description="The character here sings a melody")
    @app_commands.describe(
        notation="tempo=96 | C4 D4 E4/2 G4/2 | 小 星 星 亮 (settings | notes | lyrics)",
        score="a MIDI or MusicXML file with lyrics (notation then holds settings, or a topic for new lyrics)",
    )
    async def sing(
        interaction: discord.Interaction, notation: str = "", score: discord.Attachment | None = None
    ) -> None:
        card = await adapter.character_here(interaction.channel)
        turn = await admit(adapter.runtime.pipeline.safety, _incoming(interaction, card.id, notation), card)
        if isinstance(turn, Refusal):
            await interaction.response.send_message(turn.text or SLOW_DOWN, ephemeral=True)
            return
        if singer.busy:  # before downloading or reading the score
            line = busy_line(card, interaction.user.display_name)
            await interaction.response.send_message(line, allowed_mentions=adapter.mentions)
            return
        await interaction.response.defer(thinking=True)
        if score is not None and score.size > MAX_FILE_BYTES:
            raise ScoreError(
                f"{score.filename} is {score.size:,} bytes; a score may have at most {MAX_FILE_BYTES:,}"
            )
        file = (await score.read(), score.filename) if score is not None else None
        song = await score_for(notation, card, adapter.runtime.router, file)  # errors: the tree's on_error
        if refused := await check_lyrics(turn, song.score):
            await interaction.followup.send(refused.text, allowed_mentions=adapter.mentions)
            return
        note = await singer.sing(card, song.score, song.backing)
        if isinstance(note, Busy):
            line = busy_line(card, interaction.user.display_name)
            await interaction.followup.send(line, allowed_mentions=adapter.mentions)
            return
        channel = interaction.channel
        assert channel is not None and adapter.client is not None
        own = card.id == adapter.own_character
        name = None if own else card.name
        speaker = BotSpeaker(channel, adapter.client.http, adapter.mentions, name=name)  # type: ignore[arg-type]  # interaction.channel's type includes channels one cannot send to; slash commands come from ones one can
        await speaker.send_voice(note)
        await interaction.followup.send(
            f"🎤 {card.name} sings ({note.duration_s:.0f} s)", allowed_mentions=adapter.mentions
        )

    return sing


def _incoming(interaction: discord.Interaction, character_id: str, text: str) -> Incoming:
    return Incoming(
        platform=PLATFORM,
        chat_id=str(interaction.channel_id),
        user_id=str(interaction.user.id),
        display_name=interaction.user.display_name,
        text=text,
        character_id=character_id,
        is_private=interaction.guild_id is None,
        guild_id=str(interaction.guild_id) if interaction.guild_id else None,
    )
