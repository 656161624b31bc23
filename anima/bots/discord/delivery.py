"""Deliver a reply to Discord as it streams: typing, throttled edits, 2000-character pieces, safe mentions;
then, with voice on, its voice note."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import discord

from anima.bots.discord.split import MESSAGE_LIMIT, split_message
from anima.bots.discord.voice import post_voice_message, voice_file
from anima.core.messages import Reply
from anima.voice import VoiceNote

log = logging.getLogger(__name__)

TYPING_AFTER_S = 0.3  # a reply that starts sooner needs no typing indicator (and saves a request)
TYPING_EVERY_S = 8.0  # Discord shows "typing" for 10 s after each trigger


class Speaker(Protocol):
    """One identity a character speaks with in one channel."""

    prefix: str  # put before the reply's text (the bold name when the bot speaks for another character)

    async def send(self, text: str, first: bool) -> Any:
        """Post a new message; `first` is the reply's first piece. Returns something with `edit`."""

    async def edit(self, sent: Any, text: str) -> None: ...

    async def send_voice(self, note: VoiceNote) -> None:
        """Post a voice note (after the text, if any). Raises discord.HTTPException when refused."""


class BotSpeaker:
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

    async def send_voice(self, note: VoiceNote) -> None:
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


class WebhookSpeaker:
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
        try:
            return await self.webhook.send(
                text,
                username=self.name,
                avatar_url=self.avatar_url or discord.utils.MISSING,
                allowed_mentions=self.mentions,
                thread=self.thread or discord.utils.MISSING,
                wait=True,
            )
        except discord.NotFound:
            self.on_gone()
            raise

    async def edit(self, sent: discord.WebhookMessage, text: str) -> None:
        await sent.edit(content=text, allowed_mentions=self.mentions)

    async def send_voice(self, note: VoiceNote) -> None:
        """An OGG file under the character's name: webhooks may not post voice messages (Execute Webhook
        takes no IS_VOICE_MESSAGE flag), and the bot posting one would lose the character's identity."""
        try:
            await self.webhook.send(
                file=voice_file(note),
                username=self.name,
                avatar_url=self.avatar_url or discord.utils.MISSING,
                allowed_mentions=self.mentions,
                thread=self.thread or discord.utils.MISSING,
                wait=True,
            )
        except discord.NotFound:
            self.on_gone()
            raise


def render_final(reply: Reply) -> str:
    """The reply's text with what the user should know about it as small print underneath."""
    notes = "".join(f"\n-# {note}" for note in reply.notices)
    return reply.text + notes


class DiscordReplyStream:
    """A ReplyStream: shows the reply while it is generated, at most one update per `interval_s`.

    The first piece goes out as soon as there is text; later updates coalesce every delta that arrived
    in between into one edit. `finish` always shows the final text (after the safety check), whatever
    the stream showed before, keeping the same pace. A reply longer than a message continues in
    further messages.
    """

    def __init__(
        self,
        speaker: Speaker,
        typing_in: discord.abc.Messageable,
        interval_s: float = 1.5,
        fallback: Speaker | None = None,
    ) -> None:
        self._speaker = speaker
        self._fallback = fallback  # used when the first send through `speaker` is refused (a deleted webhook)
        self._interval_s = interval_s
        self._pieces: list[str] = []
        self._sent: list[Any] = []
        self._shown: list[str] = []
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._showing = False
        self._finished = False
        self._next_update_at = 0.0
        self._started = False
        self._typing: asyncio.Task[None] | None = None
        # A timer, not a task: most replies start before it fires, and then cost nothing.
        self._typing_timer = asyncio.get_running_loop().call_later(
            TYPING_AFTER_S, self._start_typing, typing_in
        )

    async def delta(self, text: str) -> None:
        self._pieces.append(text)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())

    async def finish(self, reply: Reply) -> None:
        self._finished = True
        if self._flusher is not None and not self._showing:
            self._flusher.cancel()  # it is only waiting for its turn: the final text replaces it
        final = render_final(reply)
        async with self._lock:
            if self._sent and self._chunks(final) != self._shown:  # a final edit keeps the pace too
                delay = self._next_update_at - asyncio.get_running_loop().time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await self._show(final)

    async def send_voice(self, note: VoiceNote) -> None:
        """The reply's voice note, by whoever spoke its text (or would have)."""
        try:
            await self._speaker.send_voice(note)
        except (discord.NotFound, discord.Forbidden):
            if self._sent or self._fallback is None:
                raise
            log.warning("the webhook was refused; the bot sends the character's voice note itself")
            self._speaker, self._fallback = self._fallback, None
            await self._speaker.send_voice(note)
        self._stop_typing()

    def close(self) -> None:
        """Stop the typing indicator and any pending update (the reply is done or failed)."""
        self._typing_timer.cancel()
        if self._typing is not None:
            self._typing.cancel()
        if self._flusher is not None and not self._showing:
            self._flusher.cancel()

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            # Only a flush moves _next_update_at, and it does so before this task can exist.
            delay = self._next_update_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            async with self._lock:
                if self._finished:
                    return
                self._showing = True
                self._next_update_at = loop.time() + self._interval_s
                self._flusher = None  # deltas from now on schedule the next update
                await self._show("".join(self._pieces))
        except discord.HTTPException as exc:
            log.warning("streaming update failed (the final text is still sent): %s", exc)
        finally:
            self._showing = False

    async def _show(self, text: str) -> None:
        """Make the posted messages read `text`: edit what changed, post what is new, delete what is left."""
        text = text.strip()
        if not text:
            return
        chunks = self._chunks(text)
        for index, chunk in enumerate(chunks):
            if index < len(self._sent):
                if self._shown[index] != chunk:
                    await self._speaker.edit(self._sent[index], chunk)
                    self._shown[index] = chunk
                continue
            try:
                self._sent.append(await self._speaker.send(chunk, first=index == 0))
            except (discord.NotFound, discord.Forbidden):
                if self._sent or self._fallback is None:
                    raise
                log.warning("the webhook was refused; the bot speaks for the character itself")
                self._speaker, self._fallback = self._fallback, None
                await self._show(text)
                return
            self._shown.append(chunk)
            self._stop_typing()
        for extra in self._sent[len(chunks) :]:
            with contextlib.suppress(discord.NotFound):
                await extra.delete()
        del self._sent[len(chunks) :], self._shown[len(chunks) :]

    def _chunks(self, text: str) -> list[str]:
        return split_message(self._speaker.prefix + text.strip(), MESSAGE_LIMIT)

    def _start_typing(self, channel: discord.abc.Messageable) -> None:
        if not self._started:
            self._typing = asyncio.create_task(self._keep_typing(channel))

    def _stop_typing(self) -> None:
        self._started = True
        self._typing_timer.cancel()
        if self._typing is not None:
            self._typing.cancel()

    async def _keep_typing(self, channel: discord.abc.Messageable) -> None:
        while True:
            try:
                await channel.typing()
            except discord.HTTPException as exc:
                log.debug("typing indicator refused: %s", exc)
                return
            await asyncio.sleep(TYPING_EVERY_S)  # Discord shows it for 10 s after each trigger
