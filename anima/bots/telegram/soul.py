"""/soul: a character's growth reviewed by the bot's admins (its card owners), in a private chat only."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from anima.app import Runtime
from anima.bots.telegram.chats import ChatSettings
from anima.bots.telegram.delivery import send_text
from anima.bots.telegram.translate import PLATFORM, is_private
from anima.soul.chat import ADMINS_ONLY, soul_command

Context = ContextTypes.DEFAULT_TYPE
PRIVATE_ONLY = "/soul shows what people said to the character: use it in a private chat with me."


class SoulCommand:
    """A group never sees it: the evidence behind a change is what someone said to the character."""

    def __init__(self, runtime: Runtime, chats: ChatSettings, admins: list[str]) -> None:
        self.soul = runtime.soul
        self.chats = chats
        self.admins = frozenset(admins)

    def handler(self) -> CommandHandler[Context, None]:
        return CommandHandler("soul", self.soul_command)

    async def soul_command(self, update: Update, context: Context) -> None:
        message, sender = update.effective_message, update.effective_user
        if message is None or sender is None or sender.is_bot:
            return
        if str(sender.id) not in self.admins:
            answer = ADMINS_ONLY
        elif not is_private(message):
            answer = PRIVATE_ONLY
        else:
            card = await self.chats.character(message.chat.id)
            answer = await soul_command(self.soul, card, context.args or [], f"{PLATFORM}:{sender.id}")
        await send_text(
            context.bot, message.chat.id, answer, None if is_private(message) else message.message_id
        )
