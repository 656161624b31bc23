"""Discord messages in: a `discord.Message` as the core's Incoming, and what Discord tells of whom
it is for (the rules are anima.core.addressing): its type, a mention of the bot or of its role, the
message it replies to (the bot's, perhaps under a character's bold name, or our webhook's)."""

from __future__ import annotations

import re

import discord

from anima.bots.discord.webhooks import PersonaWebhooks
from anima.bots.services import Services
from anima.core.addressing import Arrivals, addressed, known
from anima.core.messages import Attachment, Incoming

PLATFORM = "discord"
ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
BOLD_NAME = re.compile(r"^\*\*(.+?)\*\*: ")  # how the bot writes for a character without a webhook
_MENTION = re.compile(r"<@([!&]?)(\d+)>")


def to_incoming(message: discord.Message) -> Incoming:
    """The message as it came; `Addressing.resolve` decides the character and the text."""
    reference = message.reference
    return Incoming(
        platform=PLATFORM,
        chat_id=str(message.channel.id),
        user_id=str(message.author.id),
        display_name=message.author.display_name,
        text=message.content,
        message_id=str(message.id),
        reply_to=str(reference.message_id) if reference and reference.message_id else None,
        is_private=message.guild is None,
        from_bot=message.author.bot or message.webhook_id is not None,
        guild_id=str(message.guild.id) if message.guild else None,
        attachments=tuple(to_attachment(a, message.flags.voice) for a in message.attachments),
    )


def to_attachment(attachment: discord.Attachment, voice_message: bool = False) -> Attachment:
    """An attachment as the core sees it; an audio one is heard (anima/hearing), a voice message's
    (flag IS_VOICE_MESSAGE) as "voice"."""
    mime = attachment.content_type or ""
    kind = mime.split("/")[0] if mime.split("/")[0] in ("image", "audio", "video") else "file"
    kind = "voice" if voice_message and kind == "audio" else kind
    return Attachment(kind, attachment.url, attachment.filename, mime, attachment.size)


def chat_ids(channel: object) -> list[str]:
    """Where a chat's character binding is looked up: a thread, then its channel."""
    parent = getattr(channel, "parent_id", None)
    return [str(getattr(channel, "id", "")), *([str(parent)] if parent else [])]


class Addressing:
    """Which messages the bot answers, and as which character."""

    def __init__(
        self,
        client: discord.Client,
        runtime: Services,
        own_character: str,
        webhooks: PersonaWebhooks,
        allow_bots: set[str],
    ) -> None:
        self._client, self._runtime, self._webhooks = client, runtime, webhooks
        self.own_character = own_character
        self.arrivals = Arrivals(allow_bots)

    def ignored(self, message: discord.Message, incoming: Incoming) -> bool:
        """Messages never answered, decided without any I/O, in arrival order (see `Arrivals`); the
        bot's own are not answered, and count in a run of bots' turns."""
        me = self._client.user
        if me is None or message.type not in ANSWERED_TYPES:
            return True
        return not self.arrivals.admit(incoming) or message.author.id == me.id

    async def resolve(self, message: discord.Message, incoming: Incoming) -> Incoming | None:
        """`incoming` as its character reads it, or None when the bot stays quiet."""
        me = self._client.user
        assert me is not None
        mentioned = any(u.id == me.id for u in message.mentions) or any(
            role.tags is not None and role.tags.bot_id == me.id for role in message.role_mentions
        )
        bound = await self._runtime.conversations.preferences.bound(PLATFORM, chat_ids(message.channel), "")
        text = _readable_text(message, me)
        replied = await self._replied_character(message)
        characters = self._runtime.characters  # looked up each time: the library may be reloaded
        return addressed(
            incoming,
            characters,
            self.own_character,
            text=text,
            mentioned=mentioned,
            replied=replied,
            bound=bound,
        )

    async def _replied_character(self, message: discord.Message) -> str | None:
        """The character who wrote the message that `message` replies to, if it was one of ours."""
        reference = message.reference
        parent = reference.resolved if reference is not None else None
        if not isinstance(parent, discord.Message):
            return None
        me = self._client.user
        if me is not None and parent.author.id == me.id:
            bold = BOLD_NAME.match(parent.content)
            return (known(self._runtime.characters, bold.group(1)) if bold else None) or self.own_character
        if parent.webhook_id is not None and await self._webhooks.is_ours(message.channel, parent.webhook_id):
            return known(self._runtime.characters, parent.author.name)
        return None


def _readable_text(message: discord.Message, me: discord.ClientUser) -> str:
    """The content without the bot's mention, other mentions as @names the model can read."""
    names = {u.id: u.display_name for u in message.mentions}
    names |= {r.id: r.name for r in message.role_mentions}
    bot_roles = {r.id for r in message.role_mentions if r.tags is not None and r.tags.bot_id == me.id}

    def readable(match: re.Match[str]) -> str:
        target = int(match.group(2))
        if target == me.id or (match.group(1) == "&" and target in bot_roles):
            return ""
        return "@" + names.get(target, "someone")

    return _MENTION.sub(readable, message.content).strip()
