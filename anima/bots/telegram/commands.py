"""The bot's commands and their buttons: /start /help /character /reset /memory /forget /voice.

/safety lives in safety.py.
"""

from __future__ import annotations

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from anima.app import Runtime
from anima.bots.telegram.chats import ChatSettings
from anima.bots.telegram.context import GroupContext
from anima.bots.telegram.delivery import send_text
from anima.bots.telegram.sing import SingCommand
from anima.bots.telegram.translate import PLATFORM, is_private, to_incoming
from anima.characters.card import CharacterCard
from anima.core.ordering import ConversationLocks
from anima.errors import AnimaError

Context = ContextTypes.DEFAULT_TYPE

COMMANDS = [
    BotCommand("start", "Say hello"),
    BotCommand("help", "What I can do"),
    BotCommand("character", "Choose who answers in this chat"),
    BotCommand("reset", "Start a fresh conversation"),
    BotCommand("memory", "What the character remembers about you"),
    BotCommand("forget", "Delete everything stored about you"),
    BotCommand("voice", "Voice replies on or off: /voice on, /voice off"),
    BotCommand("safety", "Safety settings here; admins can make them stricter"),
    BotCommand("sing", "Sing a melody: /sing tempo=96 | C4 D4 E4 | la la la"),
]

HELP = """Talk to me by writing a message. In a group, mention me, reply to me, or start your \
message with my name.

/character – choose who answers in this chat
/reset – start a fresh conversation (what was said stays stored)
/memory – what the character remembers about you
/forget – delete everything stored about you
/voice on|off – voice replies
/safety – safety settings here (admins: rating, block, unblock, reset)
/sing – sing a melody: /sing tempo=96 | C4 D4 E4/2 G4/2 | 小 星 星 亮 (or send a MIDI/MusicXML file)
/help – this help"""


class Commands:
    """Handlers for the commands and the inline buttons they show; one person's steps run in order."""

    def __init__(
        self, runtime: Runtime, chats: ChatSettings, order: ConversationLocks, group_context: GroupContext
    ) -> None:
        self.runtime = runtime
        self.chats = chats
        self.order = order
        self.group_context = group_context

    def handlers(self) -> list[BaseHandler[Update, Context, None]]:
        return [
            CommandHandler("start", self.start),
            CommandHandler("help", self.help),
            CommandHandler("character", self.character),
            CommandHandler("reset", self.reset),
            CommandHandler("memory", self.memory),
            CommandHandler("forget", self.forget),
            CommandHandler("voice", self.voice),
            *SingCommand(self.runtime, self.chats).handlers(),
            CallbackQueryHandler(self.choose_character, pattern=r"^character:"),
            CallbackQueryHandler(self.confirm_reset, pattern=r"^reset:"),
            CallbackQueryHandler(self.confirm_forget, pattern=r"^forget:"),
        ]

    async def start(self, update: Update, context: Context) -> None:
        if person := _person(update):
            message, sender = person
            card = await self.chats.character(message.chat.id)
            await self._greet(context, message, sender, card)

    async def help(self, update: Update, context: Context) -> None:
        if person := _person(update):
            await send_text(context.bot, person[0].chat.id, HELP)

    async def character(self, update: Update, context: Context) -> None:
        if not (person := _person(update)):
            return
        message, sender = person
        current = await self.chats.character(message.chat.id)
        if context.args:
            try:
                card = self.runtime.characters.get(" ".join(context.args))
            except AnimaError as exc:
                await send_text(context.bot, message.chat.id, str(exc))
                return
            await self.chats.set_character(message.chat.id, card.id)
            await self._greet(context, message, sender, card)
            return
        buttons = [
            [
                InlineKeyboardButton(
                    ("✓ " if card.id == current.id else "") + card.name, callback_data=f"character:{card.id}"
                )
            ]
            for card in sorted(self.runtime.characters.cards.values(), key=lambda c: c.name)
        ]
        await message.reply_text(
            f"You are talking with {current.name}. Who should answer in this chat?",
            reply_markup=InlineKeyboardMarkup(buttons),
            do_quote=not is_private(message),
        )

    async def choose_character(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        if query.from_user.is_bot or not isinstance(query.message, Message):
            await query.answer()
            return
        try:
            card = self.runtime.characters.get(query.data.removeprefix("character:"))
        except AnimaError:
            await query.answer("That character is no longer here.", show_alert=True)
            return
        await query.answer()
        await self.chats.set_character(query.message.chat.id, card.id)
        await query.edit_message_text(f"Now talking with {card.name}.")
        await self._greet(context, query.message, query.from_user, card)

    async def reset(self, update: Update, context: Context) -> None:
        if person := _person(update):
            message, sender = person
            card = await self.chats.character(message.chat.id)
            await self._ask(
                message,
                sender,
                f"Start a fresh conversation with {card.name}? What was said stays stored.",
                "reset",
                "Yes, start afresh",
            )

    async def confirm_reset(self, update: Update, context: Context) -> None:
        if not (answer := await _confirmation(update)):
            return
        message, sender, yes = answer
        if not yes:
            await update.callback_query.edit_message_text("Nothing changed.")  # type: ignore[union-attr]  # _confirmation answered: the update is a button press
            return
        card = await self.chats.character(message.chat.id)
        incoming = to_incoming(message, sender, card, "", addressed=True)
        async with self.order.hold((message.chat.id, sender.id)):
            key = self.runtime.pipeline.key_for(incoming, card)
            conversation = await self.runtime.memory.conversation(key, sender.first_name)
            await self.runtime.memory.reset(conversation)
        await update.callback_query.edit_message_text(f"{card.name} starts afresh.")  # type: ignore[union-attr]  # _confirmation answered: the update is a button press
        await self._greet(context, message, sender, card)

    async def memory(self, update: Update, context: Context) -> None:
        if not (person := _person(update)):
            return
        message, sender = person
        card = await self.chats.character(message.chat.id)
        key = self.runtime.pipeline.key_for(to_incoming(message, sender, card, "", True), card)
        view = await self.runtime.memory.view(key, sender.first_name)
        since = view.first_seen.strftime("%Y-%m-%d") if view.first_seen else "today"
        lines = [
            f"{card.name} has known you since {since}: {view.total_messages} messages stored, "
            f"{view.in_history} in the current conversation."
        ]
        for stored in view.recent:
            who = sender.first_name if stored.role == "user" else card.name
            lines.append(f"{stored.created_at:%Y-%m-%d %H:%M} {who}: {stored.content}")
        await send_text(context.bot, message.chat.id, "\n".join(lines), quote=_quote(message))

    async def forget(self, update: Update, context: Context) -> None:
        if person := _person(update):
            message, sender = person
            await self._ask(
                message,
                sender,
                "Delete everything stored about you here on Telegram: every conversation with every "
                "character, and your settings? This cannot be undone.",
                "forget",
                "Yes, delete everything",
            )

    async def confirm_forget(self, update: Update, context: Context) -> None:
        if not (answer := await _confirmation(update)):
            return
        message, sender, yes = answer
        if not yes:
            await update.callback_query.edit_message_text("Nothing was deleted.")  # type: ignore[union-attr]  # _confirmation answered: the update is a button press
            return
        async with self.order.hold((message.chat.id, sender.id)):
            deleted = await self.runtime.memory.forget_user(PLATFORM, str(sender.id))
            self.group_context.forget_user(sender.id)
            self.chats.forget_user(sender.id)
            if is_private(message):  # the private chat's own settings are the person's too
                await self.chats.set_character(message.chat.id, None)
        await update.callback_query.edit_message_text(  # type: ignore[union-attr]  # _confirmation answered: the update is a button press
            f"Done: {deleted} messages and everything else stored about you are deleted."
        )

    async def voice(self, update: Update, context: Context) -> None:
        if not (person := _person(update)):
            return
        message, sender = person
        choice = (context.args or [""])[0].lower()
        if choice in ("on", "off"):
            await self.chats.set_voice(message.chat.id, sender.id, choice == "on")
            state = choice
        else:
            state = "on" if await self.chats.voice(message.chat.id, sender.id) else "off"
        await send_text(
            context.bot,
            message.chat.id,
            f"Voice replies are {state} for you in this chat. Change with /voice on or /voice off.",
            quote=_quote(message),
        )

    async def _greet(self, context: Context, message: Message, sender: User, card: CharacterCard) -> None:
        async with self.order.hold((message.chat.id, sender.id)):
            greeting = await self.runtime.pipeline.greet(to_incoming(message, sender, card, "", True))
        await send_text(context.bot, message.chat.id, greeting, quote=_quote(message))

    async def _ask(self, message: Message, sender: User, question: str, action: str, yes: str) -> None:
        """A yes/cancel keyboard whose buttons only the asking person can press."""
        buttons = [
            InlineKeyboardButton(yes, callback_data=f"{action}:{sender.id}:yes"),
            InlineKeyboardButton("Cancel", callback_data=f"{action}:{sender.id}:no"),
        ]
        await message.reply_text(
            question, reply_markup=InlineKeyboardMarkup([buttons]), do_quote=not is_private(message)
        )


def _person(update: Update) -> tuple[Message, User] | None:
    """The message and its human sender; None for bots and senderless posts (never answered)."""
    message, sender = update.effective_message, update.effective_user
    if message is None or sender is None or sender.is_bot:
        return None
    return message, sender


def _quote(message: Message) -> int | None:
    return None if is_private(message) else message.message_id


async def _confirmation(update: Update) -> tuple[Message, User, bool] | None:
    """(message, person, yes) for a press by the person who asked; None after telling others off."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, asker, choice = query.data.split(":")
    if query.from_user.id != int(asker) or not isinstance(query.message, Message):
        await query.answer("This button is for the person who asked.", show_alert=True)
        return None
    await query.answer()
    return query.message, query.from_user, choice == "yes"
