"""/safety: a chat's effective safety settings, and its admins' stricter override."""

from __future__ import annotations

import logging

from telegram import Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import CommandHandler, ContextTypes

from anima.app import Runtime
from anima.bots.telegram.chats import ChatSettings
from anima.bots.telegram.delivery import send_text
from anima.bots.telegram.translate import PLATFORM, is_private
from anima.safety import overrides

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE

USAGE = (
    "/safety – this chat's safety settings\n"
    "/safety rating general|teen – a stricter rating for this chat\n"
    "/safety block TOPIC – characters decline TOPIC here\n"
    "/safety unblock TOPIC – lift a topic this chat blocked\n"
    "/safety reset – back to the character card's own settings"
)
ADMINS_ONLY = "Only this group's administrators can change its safety settings. /safety shows them."
CANNOT_CHECK = "I could not check whether you are an administrator here; please try again in a moment."
CHANGES = ("rating", "block", "unblock", "reset")
ADMIN_STATUSES = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


class SafetyCommand:
    """Anyone may look; in a group only its administrators may change, in a private chat the person."""

    def __init__(self, runtime: Runtime, chats: ChatSettings) -> None:
        self.policy = runtime.pipeline.safety
        self.chats = chats

    def handler(self) -> CommandHandler[Context, None]:
        return CommandHandler("safety", self.safety)

    async def safety(self, update: Update, context: Context) -> None:
        message, sender = update.effective_message, update.effective_user
        if message is None or sender is None or sender.is_bot:
            return
        args = context.args or []
        action, rest = (args[0].lower(), " ".join(args[1:])) if args else ("", "")
        quote = None if is_private(message) else message.message_id
        chat_id = str(message.chat.id)
        card = await self.chats.character(message.chat.id)
        current = await self.policy.override_for(PLATFORM, chat_id)
        if action in ("", "show"):
            await send_text(context.bot, message.chat.id, overrides.describe(card, current, "here"), quote)
            return
        if action not in CHANGES:
            await send_text(context.bot, message.chat.id, USAGE, quote)
            return
        if refusal := await self._refusal(context, message, sender):
            await send_text(context.bot, message.chat.id, refusal, quote)
            return
        if action == "rating":
            change = overrides.set_rating(current, card, rest.lower())
        elif action == "block":
            change = overrides.block(current, card, rest)
        elif action == "unblock":
            change = overrides.unblock(current, card, rest)
        else:
            change = overrides.reset()
        if change.override != current:
            await self.policy.set_override(
                PLATFORM, chat_id, change.override.rating, change.override.blocked_topics
            )
        await send_text(context.bot, message.chat.id, change.note, quote)

    async def _refusal(self, context: Context, message: Message, sender: User) -> str | None:
        """Why `sender` may not change this chat's settings; None when they may."""
        if is_private(message):
            return None
        try:
            member = await context.bot.get_chat_member(message.chat.id, sender.id)
        except TelegramError as exc:
            log.warning("checking %s's status in chat %s failed: %s", sender.id, message.chat.id, exc)
            return CANNOT_CHECK
        return None if member.status in ADMIN_STATUSES else ADMINS_ONLY
