"""Discord messages out, for a streamed reply: who sends them (the bot, or a channel webhook under
the character's name), in 2000-character pieces that ping nobody; then, with voice on, its voice note."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import discord

from anima.bots.discord.voice import post_voice_message, voice_file
from anima.core.messages import Reply
from anima.core.surface import SpokenNote
from anima.core.text import split_markdown

log = logging.getLogger(__name__)
MESSAGE_LIMIT = 2000  # characters in one Discord message


class BotSender:
    """The bot's own account; the first piece replies to the user's message."""

    def __init__(
        self,
        channel: discord.abc.Messageable,
        http: discord.http.HTTPClient,
        mentions: discord.AllowedMentions,
        reply_to: discord.Message | None = None,
        name: str | None = None,
    ) -> None:
        self.channel = channel
        self.http = http
        self.mentions = mentions
        self.reference = reply_to.to_reference(fail_if_not_exists=False) if reply_to else None
        self.prefix = f"**{discord.utils.escape_markdown(name)}**: " if name else ""

    async def send(self, text: str, first: bool) -> discord.Message:
        reference = self.reference if first else None
        return await self.channel.send(text, reference=reference, allowed_mentions=self.mentions)  # type: ignore[arg-type]  # discord.py takes reference=None; its hints leave None out

    async def edit(self, sent: discord.Message, text: str) -> None:
        await sent.edit(content=text, allowed_mentions=self.mentions)

    async def send_voice(self, note: SpokenNote) -> None:
        """A native voice message; an OGG file where Discord refuses one (no Send Voice Messages
        permission) or when the bot speaks for another character, whose name a voice message cannot show."""
        if not self.prefix and self._may_send_voice_messages():
            try:
                channel_id = self.channel.id  # type: ignore[attr-defined]  # the Messageable abc omits what every channel Discord hands us has
                await post_voice_message(self.http, channel_id, note, self.mentions, self.reference)
                return
            except discord.HTTPException as exc:
                log.info("Discord refused the voice message (%s); sending the note as a file", exc)
        await self.channel.send(
            self.prefix.strip() or None,
            file=voice_file(note),
            reference=self.reference,  # type: ignore[arg-type]  # discord.py takes reference=None; its hints leave None out
            allowed_mentions=self.mentions,
        )

    def _may_send_voice_messages(self) -> bool:
        """From the permissions discord.py already has (no request); in DMs voice messages always may."""
        guild = getattr(self.channel, "guild", None)
        if guild is None:
            return True
        return self.channel.permissions_for(guild.me).send_voice_messages  # type: ignore[attr-defined]  # the Messageable abc omits what every channel Discord hands us has


class WebhookSender:
    """A channel webhook posting under a character's name and avatar (webhooks cannot reply to a message)."""

    prefix = ""

    def __init__(
        self,
        webhook: discord.Webhook,
        name: str,
        avatar_url: str | None,
        mentions: discord.AllowedMentions,
        thread: discord.Thread | None = None,
        on_gone: Callable[[], None] = lambda: None,
    ) -> None:
        self.on_gone = on_gone  # the webhook was deleted: forget it so the next reply makes a new one
        self.webhook = webhook
        self.name = name
        self.avatar_url = avatar_url
        self.mentions = mentions
        self.thread = thread

    async def send(self, text: str, first: bool) -> discord.WebhookMessage:
        return await self._post(content=text)

    async def edit(self, sent: discord.WebhookMessage, text: str) -> None:
        await sent.edit(content=text, allowed_mentions=self.mentions)

    async def send_voice(self, note: SpokenNote) -> None:
        """An OGG file under the character's name: webhooks may not post voice messages (Execute Webhook
        takes no IS_VOICE_MESSAGE flag), and the bot posting one would lose the character's identity."""
        await self._post(file=voice_file(note))

    async def _post(self, **what: Any) -> discord.WebhookMessage:
        try:
            return await self.webhook.send(
                username=self.name,
                avatar_url=self.avatar_url or discord.utils.MISSING,
                allowed_mentions=self.mentions,
                thread=self.thread or discord.utils.MISSING,
                wait=True,
                **what,
            )
        except discord.NotFound:
            self.on_gone()
            raise


Sender = BotSender | WebhookSender  # one identity a character speaks with in one channel


class DiscordPosts:
    """A channel's messages for a streamed reply (anima.core.streaming), by the character's sender.
    When the first send through a webhook is refused (deleted meanwhile), the bot speaks instead."""

    def __init__(self, sender: Sender, fallback: BotSender | None = None) -> None:
        self.sender, self.fallback = sender, fallback
        self.posted = False

    def pieces(self, text: str) -> list[str]:
        return split_markdown(self.sender.prefix + text.strip(), MESSAGE_LIMIT) if text.strip() else []

    def render(self, reply: Reply) -> str:
        """The reply's text with what the person should know about it as small print underneath."""
        return reply.text + "".join(f"\n-# {note}" for note in reply.notices)

    async def post(self, text: str, first: bool, final: bool) -> Any:
        try:
            sent = await self.sender.send(text, first)
        except (discord.NotFound, discord.Forbidden):
            if not self._fall_back():
                raise
            sent = await self.sender.send(self.sender.prefix + text, first)
        self.posted = True
        return sent

    async def edit(self, sent: Any, text: str, final: bool) -> Any:
        await self.sender.edit(sent, text)
        return sent

    async def delete(self, sent: Any) -> None:
        with contextlib.suppress(discord.NotFound):
            await sent.delete()

    async def send_voice(self, note: SpokenNote) -> None:
        """The reply's voice note, by whoever spoke its text (or would have)."""
        try:
            await self.sender.send_voice(note)
        except (discord.NotFound, discord.Forbidden):
            if not self._fall_back():
                raise
            await self.sender.send_voice(note)

    def _fall_back(self) -> bool:
        """The webhook was refused before anything was posted through it: the bot speaks instead."""
        if self.posted or self.fallback is None:
            return False
        log.warning("the webhook was refused; the bot speaks for the character itself")
        self.sender, self.fallback = self.fallback, None
        return True
