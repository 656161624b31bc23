"""Discord messages out: who sends them (the bot, a channel webhook under a character's name, or the
answer to a slash command), and a streamed reply's messages, in 2000-character pieces that ping
nobody, then, with voice on, its voice note.

discord.py has no API for voice messages (its issue #10165), so one is posted through its own HTTP
client with a raw route: rate limits and retries stay in discord.py, the multipart shape is the one
its `send_files` builds (`payload_json`, then `files[0]`), and the attachment carries the duration
and waveform that make Discord show a voice message.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass
from typing import Any

import discord

from anima.bots.discord.webhooks import WebhookSender
from anima.core.messages import Reply
from anima.core.personas import naming
from anima.core.sending import Fallback
from anima.core.surface import VoiceNote
from anima.core.text import split_markdown

log = logging.getLogger(__name__)
MESSAGE_LIMIT = 2000  # characters in one Discord message
IS_VOICE_MESSAGE = 1 << 13
VOICE_FILENAME = "voice-message.ogg"


class BotSender:
    """The bot's own account; the first message replies to the user's. Speaking for a character
    other than its own, it writes the character's name in bold first."""

    def __init__(
        self,
        channel: discord.abc.Messageable,
        client: discord.Client,
        reply_to: discord.Message | None,
        name: str | None,
    ) -> None:
        self.channel, self.client = channel, client
        self.reference = reply_to.to_reference(fail_if_not_exists=False) if reply_to else None
        self.prefix = naming(name, discord.utils.escape_markdown) if name else ""

    async def send(self, first: bool, **what: Any) -> discord.Message:
        """A message of `what` (content, file, view); the first one replies to the user's message."""
        reference = self.reference if first else None
        return await self.channel.send(reference=reference, **what)  # type: ignore[arg-type]  # discord.py takes reference=None; its hints leave None out

    def may_send_voice_messages(self) -> bool:
        """Not for another character (a voice message cannot show its name); in a server only with
        the Send Voice Messages permission, read from what discord.py already has (no request)."""
        if self.prefix:
            return False
        guild = getattr(self.channel, "guild", None)
        if guild is None:
            return True
        return self.channel.permissions_for(guild.me).send_voice_messages  # type: ignore[attr-defined]  # the Messageable abc omits what every channel Discord hands us has

    async def send_voice_message(self, note: VoiceNote) -> None:
        """Raises discord.HTTPException when Discord refuses it (without SEND_VOICE_MESSAGES, 403 with
        code 50013; where voice messages are off, 50173)."""
        attachment = {
            "id": "0",
            "filename": VOICE_FILENAME,
            "duration_secs": note.duration_s,
            "waveform": note.waveform_b64,
        }
        payload: dict[str, Any] = {
            "flags": IS_VOICE_MESSAGE,
            "attachments": [attachment],
            "allowed_mentions": (self.client.allowed_mentions or discord.AllowedMentions.none()).to_dict(),
        }
        if self.reference is not None:
            payload["message_reference"] = self.reference.to_message_reference_dict()
        file = voice_file(note)
        form: list[dict[str, Any]] = [
            {"name": "payload_json", "value": json.dumps(payload)},
            {"name": "files[0]", "value": file.fp, "filename": VOICE_FILENAME, "content_type": "audio/ogg"},
        ]
        channel_id = self.channel.id  # type: ignore[attr-defined]  # the Messageable abc omits what every channel Discord hands us has
        route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        await self.client.http.request(route, form=form, files=[file])  # `files`: rewound before each retry


@dataclass
class InteractionSender:
    """The answer to a slash command or a button press: Discord's response, then follow-ups.
    `private`: shown to the person alone (an ephemeral answer)."""

    interaction: discord.Interaction
    private: bool = False

    async def send(self, first: bool, **what: Any) -> object:
        response = self.interaction.response
        send = self.interaction.followup.send if response.is_done() else response.send_message
        return await send(ephemeral=self.private, **what)  # pinging nobody: the client's allowed mentions


Sender = BotSender | WebhookSender  # one identity a character speaks with in one channel


def refused(exc: BaseException) -> bool:
    """The channel no longer takes this sender (a webhook deleted meanwhile): its fallback speaks."""
    return isinstance(exc, discord.NotFound | discord.Forbidden)


def voice_file(note: VoiceNote) -> discord.File:
    return discord.File(io.BytesIO(note.ogg), VOICE_FILENAME)


class DiscordPosts:
    """A channel's messages for a streamed reply (anima.core.streaming), by the character's sender,
    or by its fallback when the channel refuses that one before anything went out (`Fallback`)."""

    def __init__(self, by: Fallback[Sender], mentions: discord.AllowedMentions) -> None:
        self.by, self.mentions = by, mentions  # an edit of a webhook's message needs them said

    def pieces(self, text: str) -> list[str]:
        return split_markdown(self.by.sender.prefix + text.strip(), MESSAGE_LIMIT) if text.strip() else []

    def render(self, reply: Reply) -> str:
        """The reply's text with what the person should know about it as small print underneath."""
        return reply.text + "".join(f"\n-# {note}" for note in reply.notices)

    async def post(self, text: str, first: bool, final: bool) -> Any:
        # A sender that took over puts its own name in front: `text` was cut for the one before.
        return await self.by.send(
            lambda sender, took_over: sender.send(first, content=sender.prefix + text if took_over else text)
        )

    async def edit(self, sent: Any, text: str, final: bool) -> Any:
        await sent.edit(content=text, allowed_mentions=self.mentions)
        return sent

    async def delete(self, sent: Any) -> None:
        with contextlib.suppress(discord.NotFound):
            await sent.delete()

    async def send_voice(self, note: VoiceNote) -> None:
        """The reply's voice note, by whoever spoke its text (or would have): a native voice message
        where one may go out, else an OGG file (under the character's name)."""

        async def send(sender: Sender, took_over: bool) -> None:
            if isinstance(sender, BotSender) and sender.may_send_voice_messages():
                try:
                    await sender.send_voice_message(note)
                    return
                except discord.HTTPException as exc:
                    log.info("Discord refused the voice message (%s); sending the note as a file", exc)
            await sender.send(True, content=sender.prefix.strip() or None, file=voice_file(note))

        await self.by.send(send)
