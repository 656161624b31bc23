"""One Discord channel as the core's Surface, seen from a message or a slash command: the reply
streamed through the character's sender (the bot, or a webhook under its name), whole texts with
buttons, voice messages, "typing…", permissions, and attachments fetched under a size cap."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from anima.bots.discord.delivery import (
    MESSAGE_LIMIT,
    BotSender,
    DiscordPosts,
    InteractionSender,
    Sender,
    refused,
)
from anima.bots.discord.messages import PLATFORM, chat_ids, mentions, readable_text
from anima.bots.surface import BotSurface
from anima.core.addressing import Heard
from anima.core.messages import Attachment, Incoming, ReplyStream
from anima.core.personas import replied, speaker
from anima.core.sending import Fallback
from anima.core.streaming import EditedReply
from anima.core.surface import Action, NotFetched, VoiceNote
from anima.core.text import split_markdown

if TYPE_CHECKING:
    from anima.bots.discord.adapter import DiscordAdapter


class DiscordSurface(BotSurface[discord.ui.View]):
    """A channel, the person who wrote (or ran a command) and, for a message, the message itself."""

    platform = PLATFORM
    show_every_s = 8.0  # Discord shows "typing" for 10 s after each trigger
    refusals = (discord.HTTPException,)
    unreachable = (discord.DiscordServerError,)  # 5xx after discord.py's own retries
    max_button_data = (
        100  # Discord's limit on a button's custom_id, in characters (bytes count at least as many)
    )

    def __init__(
        self,
        adapter: DiscordAdapter,
        channel: discord.abc.Messageable,
        user: discord.abc.User,
        message: discord.Message | None = None,
        interaction: discord.Interaction | None = None,
        files: Sequence[discord.Attachment] = (),
        card_id: str | None = None,
    ) -> None:
        guild = getattr(channel, "guild", None)
        super().__init__(
            adapter,
            str(getattr(channel, "id", "")),
            str(user.id),
            user.display_name,
            "group" if guild else "private",
        )
        self.adapter, self.channel, self.user = adapter, channel, user
        self.message, self.interaction = message, interaction
        self.guild_id = str(guild.id) if guild is not None else None
        self.chats = chat_ids(channel)
        self.private_answers = interaction is not None  # ephemeral answers to a slash command
        self._files = {a.url: a for a in (message.attachments if message else files)}
        self.card_id = card_id or self.card_id
        self._posts: DiscordPosts | None = None  # the reply's, once it streams

    async def heard(self, incoming: Incoming) -> Heard:
        """A mention of the bot or of its role, the message replied to, and the channel's binding."""
        me, message = self.adapter.client.user, self.message
        assert me is not None and message is not None  # a message's surface (a command's has none)
        bound = await self.runtime.conversations.preferences.bound(PLATFORM, self.chats, "")
        text, replied = readable_text(message, me), await self._replied(me)
        return Heard(self.adapter.presence.character, text, mentions(message, me), replied, bound)

    async def _replied(self, me: discord.abc.User) -> str | None:
        """The character who wrote the message this one replies to, if it was one of ours: the bot
        (perhaps naming a character), or our webhook (anima.core.personas.replied)."""
        reference = self.message.reference if self.message else None
        parent = reference.resolved if reference is not None else None
        if not isinstance(parent, discord.Message):
            return None
        webhooks, hook = self.adapter.webhooks, parent.webhook_id
        persona = hook is not None and await webhooks.is_ours(self.channel, hook)
        if parent.author.id != me.id and not persona:
            return None
        own, name = self.adapter.presence.character, parent.author.name if persona else None
        return replied(self.runtime.characters, own, parent.content, name)

    async def stream(self, resumed: bool) -> ReplyStream:
        self._posts = DiscordPosts(await self._speaker(reply=True), self.adapter.mentions)
        return EditedReply(self._posts, self.adapter.pacer, self.chat_id)

    async def _speaker(self, reply: bool) -> Fallback[Sender]:
        """Who speaks for the character here (anima.core.personas.speaker); a reply by another one
        than the bot's own goes through the channel's webhook, under its name and picture."""
        persona = functools.partial(self.adapter.webhooks.persona, self.channel) if reply else None
        own, bot = self.adapter.presence.character, lambda name: self._bot(name, reply)
        return await speaker(self.runtime.characters, self.card_id, own, bot, persona, refused)

    def _bot(self, name: str | None = None, reply: bool = False) -> BotSender:
        return BotSender(self.channel, self.adapter.client, self.message if reply else None, name)

    async def show(self, action: Action) -> None:
        await self.channel.typing()  # one trigger: Discord shows it for ten seconds

    def pieces(self, text: str) -> list[str]:
        return split_markdown(text, MESSAGE_LIMIT)

    def markup(self, buttons: Sequence[tuple[str, str]]) -> discord.ui.View:
        """The adapter answers a press from its custom_id alone (`DiscordAdapter.press`); discord.py
        keeps a sent view until its timeout, nothing else holds it."""
        view = discord.ui.View(timeout=300)
        for label, data in buttons[:25]:
            view.add_item(discord.ui.Button(label=label[:80], custom_id=data))
        return view

    async def post(self, piece: str, first: bool, keyboard: discord.ui.View | None, private: bool) -> None:
        sender = self._answering(private) if self.interaction is not None else self._bot(reply=True)
        await sender.send(first, content=piece, view=discord.utils.MISSING if keyboard is None else keyboard)

    def _answering(self, private: bool = False) -> InteractionSender:
        assert self.interaction is not None  # a slash command's or a button's surface
        return InteractionSender(self.interaction, private)

    async def post_voice(self, note: VoiceNote, caption: str) -> None:
        if self._posts is None:  # not a reply's note: the bot sends it, naming another character
            self._posts = DiscordPosts(await self._speaker(reply=False), self.adapter.mentions)
        await self._posts.send_voice(note)  # a reply's note goes by whoever spoke its text
        if caption and self.interaction is not None:
            await self._answering().send(False, content=caption)

    async def send_file(self, name: str, data: bytes, caption: str = "", photo: bool = False) -> None:
        async with self.delivering():
            await self._bot().send(False, content=caption or None, file=discord.File(io.BytesIO(data), name))

    async def is_group_admin(self) -> bool:
        if self.interaction is not None:
            return self.interaction.permissions.manage_guild
        member = self.user
        return isinstance(member, discord.Member) and member.guild_permissions.manage_guild

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        found = self._files.get(attachment.url)
        if found is None:
            return NotFetched(
                f"I could not find {attachment.name or 'the file'} on Discord; please send it again"
            )
        return await found.read()
