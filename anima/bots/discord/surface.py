"""One Discord channel as the core's Surface, seen from a message or a slash command: the reply
streamed through the character's sender (the bot, or a webhook under its name), whole texts with
buttons, voice messages, "typing…", permissions, and attachments fetched under a size cap."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import discord

from anima.bots.discord.delivery import (
    MESSAGE_LIMIT,
    BotSender,
    DiscordPosts,
    InteractionSender,
    Sender,
    WebhookSender,
    refused,
)
from anima.bots.discord.messages import BOLD_NAME, PLATFORM, chat_ids, mentions, readable_text
from anima.bots.discord.webhooks import WEBHOOK_NAME
from anima.bots.surface import BotSurface
from anima.commands.buttons import button_data
from anima.core.addressing import addressed, known
from anima.core.messages import Attachment, Incoming, ReplyStream
from anima.core.sending import Fallback, Transient
from anima.core.streaming import EditedReply
from anima.core.surface import Action, Button, ChatKind, NotFetched, SpokenNote
from anima.core.text import split_markdown

if TYPE_CHECKING:
    from anima.bots.discord.adapter import DiscordAdapter

MAX_CUSTOM_ID = 100  # Discord's limit on a button's custom_id, in characters (bytes count at least as many)


def transient(exc: BaseException) -> Transient | None:
    """Discord unreachable (5xx after discord.py's own retries): the reply may go through later."""
    return Transient() if isinstance(exc, discord.DiscordServerError) else None


class DiscordSurface(BotSurface[discord.ui.View]):
    """A channel, the person who wrote (or ran a command) and, for a message, the message itself."""

    platform = PLATFORM
    show_every_s = 8.0  # Discord shows "typing" for 10 s after each trigger
    refusals = (discord.HTTPException,)
    transient = staticmethod(transient)

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
        kind: ChatKind = "private" if guild is None else "group"
        super().__init__(adapter, str(getattr(channel, "id", "")), str(user.id), user.display_name, kind)
        self.adapter, self.channel, self.user = adapter, channel, user
        self.message, self.interaction = message, interaction
        self.guild_id = str(guild.id) if guild is not None else None
        self.chats = chat_ids(channel)
        self.private_answers = interaction is not None  # ephemeral answers to a slash command
        self._files = {a.url: a for a in (message.attachments if message else files)}
        self.card_id = card_id or adapter.presence.character  # who speaks here (also set by `addressed`)
        self._posts: DiscordPosts | None = None  # the reply's, once it streams

    async def addressed(self, incoming: Incoming) -> Incoming | None:
        """The core's rules over what Discord tells (a mention of the bot or of its role, the message
        replied to) and the channel's binding; the character found speaks here."""
        me, message = self.adapter.client.user, self.message
        assert me is not None and message is not None  # a message's surface (a command's has none)
        runtime, own = self.adapter.runtime, self.adapter.presence.character
        bound = await runtime.conversations.preferences.bound(PLATFORM, self.chats, "")
        text, mentioned, replied = readable_text(message, me), mentions(message, me), await self._replied(me)
        characters = runtime.characters  # looked up each time: the library may be reloaded
        found = addressed(
            incoming, characters, own, text=text, mentioned=mentioned, replied=replied, bound=bound
        )
        if found is not None and found.character_id:
            self.card_id = found.character_id
        return found

    async def _replied(self, me: discord.abc.User) -> str | None:
        """The character who wrote the message this one replies to, if it was one of ours: the bot
        (perhaps under a character's bold name), or our webhook."""
        reference = self.message.reference if self.message else None
        parent = reference.resolved if reference is not None else None
        if not isinstance(parent, discord.Message):
            return None
        characters = self.adapter.runtime.characters
        if parent.author.id == me.id:
            bold = BOLD_NAME.match(parent.content)
            return (known(characters, bold.group(1)) if bold else None) or self.adapter.presence.character
        if parent.webhook_id is not None and await self.adapter.webhooks.is_ours(
            self.channel, parent.webhook_id
        ):
            return known(characters, parent.author.name)
        return None

    @asynccontextmanager
    async def replying(self, resumed: bool = False) -> AsyncIterator[ReplyStream]:
        self._posts = DiscordPosts(await self._speaker())
        async with self.delivering():
            yield EditedReply(self._posts, self.adapter.pacer, self.chat_id)

    async def _speaker(self) -> Fallback[Sender]:
        """Who sends the reply: the bot's own character speaks as the bot; another through the
        channel's webhook, or as the bot with its name in bold (also when the webhook is refused)."""
        adapter, card = self.adapter, self.adapter.runtime.characters.get(self.card_id)
        if card.id == adapter.presence.character:
            return Fallback(self._bot(reply=True), None, refused)
        as_bot, webhooks = self._bot(card.name, reply=True), adapter.webhooks
        pictures = adapter.runtime.characters
        webhook = await webhooks.for_channel(self.channel, card.id, lambda: pictures.avatar_image(card))
        if webhook is None:
            return Fallback(as_bot, None, refused)
        # a webhook of the card's own shows its picture; the shared one, the configured URL if any
        avatar = adapter.settings.avatars.get(card.id) if webhook.name == WEBHOOK_NAME else None
        thread = self.channel if isinstance(self.channel, discord.Thread) else None
        gone = lambda: webhooks.forget(self.channel)  # noqa: E731  # deleted: the next reply makes a new one
        return Fallback(
            WebhookSender(webhook, card.name, avatar, adapter.mentions, thread, gone), as_bot, refused
        )

    def _bot(self, name: str | None = None, reply: bool = False) -> BotSender:
        message = self.message if reply else None
        return BotSender(self.channel, self.adapter.client.http, self.adapter.mentions, message, name)

    async def show(self, action: Action) -> None:
        await self.channel.typing()  # one trigger: Discord shows it for ten seconds

    def pieces(self, text: str) -> list[str]:
        return split_markdown(text, MESSAGE_LIMIT)

    def keyboard(self, buttons: Sequence[Button]) -> discord.ui.View:
        """Buttons under a text, each carrying who may press it and the line it runs in its custom_id
        (anima.commands.buttons): the adapter answers a press from that alone (`DiscordAdapter.press`).
        discord.py keeps a sent view until its timeout; nothing else holds it."""
        view = discord.ui.View(timeout=300)
        for button in buttons[:25]:
            if data := button_data(self.user_id, button.command, MAX_CUSTOM_ID):
                view.add_item(discord.ui.Button(label=button.label[:80], custom_id=data))
        return view

    async def post(self, piece: str, first: bool, keyboard: discord.ui.View | None, private: bool) -> None:
        sender = self._answering(private) if self.interaction is not None else self._bot(reply=True)
        await sender.send(first, content=piece, view=discord.utils.MISSING if keyboard is None else keyboard)

    def _answering(self, private: bool = False) -> InteractionSender:
        assert self.interaction is not None  # a slash command's or a button's surface
        return InteractionSender(self.interaction, self.adapter.mentions, private)

    async def post_voice(self, note: SpokenNote, caption: str) -> None:
        if self._posts is None:  # not a reply's note: the bot sends it, naming another character
            own = self.card_id == self.adapter.presence.character
            name = None if own else self.adapter.runtime.characters.get(self.card_id).name
            self._posts = DiscordPosts(Fallback(self._bot(name), None, refused))
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
        return await asyncio.wait_for(found.read(), 60)
