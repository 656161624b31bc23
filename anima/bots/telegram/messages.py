"""Telegram messages in and out: an update's message to the core's Incoming (and what Telegram tells
of whom it is for: a mention of the bot, a reply to it; the rules are anima.core.addressing), and
replies back as plain text, split at 4096 UTF-16 units.

Replies go out as plain text (no parse_mode), so nothing a model writes can cause a "can't parse
entities" error. Rate limits and retries are not handled here but in `limits.FloodLimits`, which
PTB calls for every request.
"""

from __future__ import annotations

import re
from typing import Any

from telegram import InlineKeyboardMarkup, Message, ReplyParameters, User
from telegram.constants import ChatType, MessageEntityType, MessageLimit
from telegram.error import BadRequest
from telegram.ext import ExtBot

from anima.core.messages import Attachment, Incoming, Reply
from anima.core.text import defuse_mentions
from anima.core.text import split_text as split

PLATFORM = "telegram"
ONE_TRY = 1  # rate_limit_args for requests not worth retrying (see limits.FloodLimits)
PHOTO_MAX_BYTES = 10_000_000  # the largest photo size taken (images.max_mb refuses larger when fetched)


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji can count two)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Messages of at most `limit` UTF-16 units (anima.core.text.split_text)."""
    return split(text, limit, utf16_len)


def quoting(message_id: int | None) -> ReplyParameters | None:
    """A reply to `message_id` that still goes out if that message was deleted meanwhile."""
    return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None


class TelegramPosts:
    """One chat's messages for a streamed reply (anima.core.streaming): plain text, split at 4096,
    mentions defused in groups. Intermediate steps get one try: the final text follows anyway."""

    def __init__(self, bot: ExtBot[Any], chat_id: int, quote: int | None, in_group: bool) -> None:
        self.bot, self.chat_id, self.quote, self.in_group = bot, chat_id, quote, in_group

    def pieces(self, text: str) -> list[str]:
        return split_text(defuse_mentions(text) if self.in_group else text)

    def render(self, reply: Reply) -> str:
        return reply.noted

    async def post(
        self, text: str, first: bool, final: bool, buttons: InlineKeyboardMarkup | None = None
    ) -> int:
        message = await self.bot.send_message(
            self.chat_id,
            text,
            reply_parameters=quoting(self.quote if first else None),
            reply_markup=buttons,
            rate_limit_args=None if final else ONE_TRY,
        )
        return message.message_id

    async def edit(self, sent: int, text: str, final: bool) -> int:
        tries = None if final else ONE_TRY
        try:
            await self.bot.edit_message_text(text, self.chat_id, sent, rate_limit_args=tries)
        except BadRequest as exc:
            if "not modified" in exc.message:
                return sent
            if "not found" in exc.message:  # deleted by someone: the text still has to arrive
                message = await self.bot.send_message(self.chat_id, text, rate_limit_args=tries)
                return message.message_id
            raise
        return sent

    async def delete(self, sent: int) -> None:
        await self.bot.delete_message(self.chat_id, sent)


def is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def mentions(message: Message, bot: User) -> bool:
    """Whether the message @mentions the bot (its @username, or a text mention of its account)."""
    found = message.parse_entities([MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION])
    handle = f"@{bot.username}".lower()
    return any(e.user.id == bot.id if e.user else text.lower() == handle for e, text in found.items())


def replies_to(message: Message, bot: User) -> bool:
    """Whether the message replies to one of the bot's own."""
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None and replied.from_user.id == bot.id


def without_mention(text: str, bot: User) -> str:
    """The text with the bot's @username taken out: the character need not read its own handle."""
    if not bot.username:
        return text
    cleaned = re.sub(rf"@{re.escape(bot.username)}\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip() if cleaned != text else text


def to_incoming(message: Message, sender: User, text: str) -> Incoming:
    """The message as it came; the surface's `addressed` decides the character and the rest."""
    replied = message.reply_to_message
    return Incoming(
        platform=PLATFORM,
        chat_id=str(message.chat.id),
        user_id=str(sender.id),
        display_name=sender.first_name,
        text=text,
        message_id=str(message.message_id),
        reply_to=str(replied.message_id) if replied else None,
        is_private=is_private(message),
        attachments=(*recordings(message), *pictures(message)),
    )


def recordings(message: Message) -> tuple[Attachment, ...]:
    """A voice note, an audio file or a round video note, as the attachment anima/hearing listens to."""
    voice, audio, note, found = message.voice, message.audio, message.video_note, []
    if voice is not None:
        found.append(
            Attachment("voice", voice.file_id, "voice.ogg", voice.mime_type or "audio/ogg", voice.file_size)
        )
    if audio is not None:
        name = audio.file_name or "audio"
        found.append(Attachment("audio", audio.file_id, name, audio.mime_type or "", audio.file_size))
    if note is not None:
        found.append(Attachment("video_note", note.file_id, "video_note.mp4", "video/mp4", note.file_size))
    return tuple(found)


def pictures(message: Message) -> tuple[Attachment, ...]:
    """A photo (the largest size Telegram offers under PHOTO_MAX_BYTES), or an image sent as a file."""
    if message.photo:
        fitting = [p for p in message.photo if (p.file_size or 0) <= PHOTO_MAX_BYTES] or [message.photo[0]]
        best = max(fitting, key=lambda p: p.width * p.height)
        return (Attachment("photo", best.file_id, "photo.jpg", "image/jpeg", best.file_size),)
    image = message.document
    if image is None or not (image.mime_type or "").startswith("image/"):
        return ()
    return (
        Attachment(
            "image", image.file_id, image.file_name or "image", image.mime_type or "", image.file_size
        ),
    )
