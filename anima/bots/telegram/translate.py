"""Telegram messages to the core's Incoming, and when a group message is addressed to the bot."""

from __future__ import annotations

import re

from telegram import Message, User
from telegram.constants import ChatType, MessageEntityType

from anima.characters.card import CharacterCard
from anima.core.messages import Incoming

PLATFORM = "telegram"


def is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def is_addressed(message: Message, bot: User, card: CharacterCard) -> bool:
    """In a group: an @mention of the bot, a reply to the bot, or a message opening with the name."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    for entity, text in message.parse_entities([MessageEntityType.MENTION]).items():
        if entity.type == MessageEntityType.MENTION and text[1:].lower() == (bot.username or "").lower():
            return True
    if any(
        e.type == MessageEntityType.TEXT_MENTION and e.user and e.user.id == bot.id for e in message.entities
    ):
        return True
    return starts_with_name(message.text or "", card.name)


def starts_with_name(text: str, name: str) -> bool:
    """ "Aiko, hi" and "aiko: hi" open with the name; "Aikos" does not."""
    return re.match(rf"\s*{re.escape(name)}(?![\w])", text, re.IGNORECASE) is not None


def without_mention(text: str, bot: User) -> str:
    """The text with the bot's @username taken out: the character need not read its own handle."""
    if not bot.username:
        return text
    cleaned = re.sub(rf"@{re.escape(bot.username)}\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip() if cleaned != text else text


def to_incoming(
    message: Message, sender: User, card: CharacterCard, text: str, addressed: bool, chat_context: str = ""
) -> Incoming:
    replied = message.reply_to_message
    return Incoming(
        platform=PLATFORM,
        chat_id=str(message.chat.id),
        user_id=str(sender.id),
        display_name=sender.first_name,
        text=text,
        character_id=card.id,
        message_id=str(message.message_id),
        reply_to=str(replied.message_id) if replied else None,
        is_private=is_private(message),
        mentions_bot=addressed,
        chat_context=chat_context,
    )
