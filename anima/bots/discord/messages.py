"""Discord messages in: a `discord.Message` as the core's Incoming, and what Discord tells of whom
it is for (the rules are anima.core.addressing): its type, a mention of the bot or of its role, the
message it replies to (the bot's, perhaps naming a character, or our webhook's)."""

from __future__ import annotations

import re

import discord

from anima.core.messages import Attachment, Incoming

PLATFORM = "discord"
ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
_MENTION = re.compile(r"<@([!&]?)(\d+)>")


def to_incoming(message: discord.Message) -> Incoming:
    """The message as it came; the surface's `addressed` decides the character and the text."""
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


def mentions(message: discord.Message, me: discord.abc.User) -> bool:
    """Whether the message mentions the bot, or the role Discord made for it."""
    return any(u.id == me.id for u in message.mentions) or any(
        _bots(role, me) for role in message.role_mentions
    )


def _bots(role: discord.Role, me: discord.abc.User) -> bool:
    return role.tags is not None and role.tags.bot_id == me.id


def readable_text(message: discord.Message, me: discord.abc.User) -> str:
    """The content without the bot's mention, other mentions as @names the model can read."""
    names = {u.id: u.display_name for u in message.mentions}
    names |= {r.id: r.name for r in message.role_mentions}
    bot_roles = {r.id for r in message.role_mentions if _bots(r, me)}

    def readable(match: re.Match[str]) -> str:
        target = int(match.group(2))
        if target == me.id or (match.group(1) == "&" and target in bot_roles):
            return ""
        return "@" + names.get(target, "someone")

    return _MENTION.sub(readable, message.content).strip()
