"""One Telegram bot: PTB's Application receives, the conversation service answers, the reply streams
back through a TelegramSurface (surface.py). Commands come from anima.commands' one table."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from telegram import BotCommand, Chat, LinkPreviewOptions, Message, Update, User
from telegram.constants import UpdateType
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from anima.bots.adapter import BotAdapter
from anima.bots.services import Services
from anima.bots.telegram.intake import DurableQueue
from anima.bots.telegram.limits import FloodLimits
from anima.bots.telegram.messages import PLATFORM, recordings, to_incoming
from anima.bots.telegram.surface import TelegramSurface
from anima.commands import COMMANDS, parse
from anima.commands.buttons import pressed
from anima.commands.cards import is_card_file
from anima.commands.menu import menu
from anima.config import TelegramBotSettings
from anima.core.messages import Attachment, Incoming
from anima.core.sending import Outage
from anima.core.streaming import EditPacer, PartialReplies
from anima.core.surface import STALE_BUTTON, Surface
from anima.memory.inbox import Delivery
from anima.ops.logs import RedactFilter

log = logging.getLogger(__name__)
UpdateHandler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]

REFUSED_TOKEN = "copy it again from @BotFather (/mybots → API Token)"
ONLY_TEXT = "Sorry, I can only read text for now."
ONLY_FIRST_VERSION = "I only read a message once; if you changed it, send it again."
POOL_SIZE = 8
MAX_DESCRIPTION = 256  # Telegram's limit on a command's description in the menu
POOL_TIMEOUT_S = 30.0
ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.EDITED_MESSAGE, UpdateType.CALLBACK_QUERY]


class TelegramAdapter(BotAdapter[Update, TelegramSurface, TelegramBotSettings]):
    """A bot bound to a default character; chats can choose another with /character."""

    platform, title = PLATFORM, "Telegram"

    def __init__(self, runtime: Services, settings: TelegramBotSettings, index: int = 0) -> None:
        super().__init__(runtime, settings, f"telegram[{index}]", f"bots.telegram[{index}]")
        self.conversations = runtime.conversations
        self.outage = Outage(self.name)
        self.pacer = EditPacer(settings.edit_interval_s)
        self.group_pacer = EditPacer(settings.group_edit_interval_s)
        self.intake = DurableQueue(self.conversations)
        self.limits = FloodLimits(settings.messages_per_second, settings.group_messages_per_minute)
        self.app = self._build()
        self._redact = RedactFilter(settings.token.get_secret_value())
        self.partials: PartialReplies  # once the bot knows who it is (getMe, in log_in())

    def _build(self) -> Application:
        return (
            ApplicationBuilder()
            .token(self.settings.token.get_secret_value())
            .base_url(self.settings.base_url)
            .base_file_url(self.settings.base_file_url)
            .rate_limiter(self.limits)
            # httpcore scans its whole pool for every request: PTB's default of 256 connections made
            # that scan the bot's largest CPU cost under load. Waiting requests queue for a connection.
            .connection_pool_size(POOL_SIZE)
            .pool_timeout(POOL_TIMEOUT_S)
            .concurrent_updates(True)
            .update_queue(self.intake)
            .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))
            .build()
        )

    @property
    def bot(self) -> User:
        return self.app.bot.bot

    async def log_in(self) -> None:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).addFilter(self._redact)
        async with self.logging_in(InvalidToken, (TelegramError,), REFUSED_TOKEN, self.settings.base_url):
            await self.app.initialize()  # getMe: checks the token
        bot_id = self.intake.bot_id = str(self.bot.id)
        self.intake.bot = self.app.bot
        self.partials = PartialReplies(self.runtime.memory, PLATFORM, bot_id)
        self.conversations.read_back(PLATFORM, bot_id, self._read_back)
        self.conversations.follow_groups(PLATFORM, bot_id, self.settings.group_context_lines)
        username = self.bot.username or ""
        self.arrive(bot_id, username, f"{self.name} @{username}", self.presence.character)
        self.outage.name = self.name
        self._add_handlers()
        await self.app.bot.set_my_commands([BotCommand(c.name, c.description) for c in menu(MAX_DESCRIPTION)])

    async def connect(self) -> None:
        await self.app.start()
        # Before anything new: what was received but not answered when the last run ended.
        await self.intake.replay()
        updater = self.app.updater
        assert updater is not None
        if self.settings.mode == "webhook":
            url, secret = self.settings.url or "", self.settings.secret_token
            await updater.start_webhook(
                self.settings.listen,
                self.settings.port,
                url_path=urlparse(url).path.lstrip("/"),
                webhook_url=url,
                allowed_updates=ALLOWED_UPDATES,
                # Telegram sends it back in a header; PTB refuses requests without it.
                secret_token=secret.get_secret_value() if secret else secrets.token_urlsafe(32),
            )
        else:
            await updater.start_polling(
                allowed_updates=ALLOWED_UPDATES,
                error_callback=lambda exc: self.outage.failed("Telegram", exc),  # PTB retries by itself
            )

    async def drain(self) -> None:
        """Stop fetching, answer what was fetched (retrying for at most a few seconds more: a reply
        Telegram did not take stays in the inbox for the next start)."""
        self.limits.retries.stopping()
        if self.app.updater and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()

    async def close(self) -> None:
        await self.drain()  # after a start that failed while running
        await self.app.shutdown()
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).removeFilter(self._redact)

    def _add_handlers(self) -> None:
        private = filters.ChatType.PRIVATE
        recording = filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE
        captioned = filters.CaptionRegex(r"^/\w")  # /sing as a voice note's caption is a command
        command = filters.COMMAND | ((filters.Document.ALL | recording) & captioned)
        self.app.add_handlers(
            [
                MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, self._on_text),
                MessageHandler(filters.UpdateType.MESSAGE & recording & ~captioned, self._on_text),
                MessageHandler(
                    filters.UpdateType.MESSAGE & (filters.PHOTO | filters.Document.IMAGE) & ~command,
                    self._on_text,
                ),
                CallbackQueryHandler(self._once(self._on_button)),
                MessageHandler(filters.UpdateType.MESSAGE & command, self._once(self._on_command)),
                MessageHandler(
                    private & filters.UpdateType.EDITED_MESSAGE, self._once(self._note(ONLY_FIRST_VERSION))
                ),
                MessageHandler(
                    private & filters.UpdateType.MESSAGE & filters.Document.ALL, self._once(self._on_file)
                ),
                MessageHandler(private & filters.UpdateType.MESSAGE, self._once(self._note(ONLY_TEXT))),
                TypeHandler(Update, self._once(self._note(None))),  # the rest: answered by silence
            ]
        )
        self.app.add_error_handler(self._on_error)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """PTB calls this for an exception a handler let through; polling goes on."""
        log.error("%s: handling an update failed", self.name, exc_info=context.error)

    # -- updates -------------------------------------------------------------------------------

    def _surface(self, update: Update) -> TelegramSurface | None:
        """The chat of an update's message, with its sender; None for a bot's (bots are never
        answered: no loops between bots)."""
        message, sender = update.effective_message, update.effective_user
        if not isinstance(message, Message) or sender is None or sender.is_bot:
            return None
        return TelegramSurface(self, message, sender, update.update_id)

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A text message: to the conversation service at once (it keeps the arrival order)."""
        await self.receive(update)

    def read(self, update: Update) -> tuple[Incoming, TelegramSurface] | None:
        surface = self._surface(update)
        if surface is None:
            return None
        message = surface.message
        return to_incoming(message, surface.sender, message.text or message.caption or ""), surface

    def delivery(self, update: Update, incoming: Incoming) -> Delivery:
        return self.intake.delivery(update)  # claimed as it was queued (intake.DurableQueue)

    async def passed(self, update: Update) -> None:
        await self.conversations.answered(self.intake.delivery(update))  # from a bot: never answered

    def as_member(self, heard: Surface, card_id: str) -> Surface | None:
        """This bot's character in a cast (core/casts.py), answering in the chat of a message that
        any bot of the cast received: it speaks through this bot, under this bot's name."""
        if not isinstance(heard, TelegramSurface) or card_id != self.presence.character:
            return None
        return TelegramSurface(self, heard.message, heard.sender, heard.update_id)

    def _read_back(self, delivery: Delivery) -> tuple[Incoming, Surface] | None:
        """A stored update as a text turn (for another process's turn; see Conversations.read_back)."""
        update = self.intake.event(delivery)
        message = update.message
        if message is None or (message.text or message.caption or "").startswith("/"):
            return None
        return self.read(update) if message.text or recordings(message) else None

    def _once(self, handler: UpdateHandler) -> UpdateHandler:
        """`handler`, then the update marked answered (Conversations.once)."""

        async def handled(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await self.conversations.once(self.intake.delivery(update), handler(update, context))

        return handled

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        surface = self._surface(update)
        if surface is None:
            return
        parsed = parse(surface.message.text or surface.message.caption or "", self.bot.username or "")
        if parsed is None or (parsed[0] not in {c.name for c in COMMANDS} and surface.kind != "private"):
            return  # a command for another bot, or one unknown in a group (it may be another bot's)
        await self.command(surface, *parsed, attachments(surface.message))

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button under one of the bot's texts (anima.commands.buttons): a forged, stale or
        someone else's press gets a clear answer, never an exception."""
        query = update.callback_query
        assert query is not None
        press = pressed(query.data or "", str(query.from_user.id), query.from_user.is_bot)
        if not isinstance(query.message, Message):  # too old for Telegram to say where it was
            await query.answer(STALE_BUTTON, show_alert=True)
        elif isinstance(press, str):
            await query.answer(press, show_alert=True)
        else:
            await query.answer()
            surface = TelegramSurface(self, query.message, query.from_user, update.update_id)
            await self.command(surface, press.name, press.args, attachments(query.message))

    async def _on_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A document in a private chat: a character card to install, or a file the bot cannot read."""
        surface = self._surface(update)
        if surface is None or surface.message.document is None:
            return
        if not is_card_file(surface.message.document.file_name or ""):
            await surface.send_text(ONLY_TEXT)
            return
        await self.install(surface, attachments(surface.message))

    def _note(self, text: str | None) -> UpdateHandler:
        """A short note in a private chat (these handlers are for private chats only); None: silence."""

        async def note(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            surface = self._surface(update)
            if text and surface is not None:
                await surface.send_text(text)

        return note

    async def reach(
        self, chat_id: int, user_id: int, display_name: str, character_id: str
    ) -> TelegramSurface | None:
        """The surface of a message that never came. On Telegram a private chat's id is the person's."""
        kind = Chat.PRIVATE if chat_id == user_id else Chat.GROUP
        sender = User(user_id, display_name or "there", is_bot=False)
        message = Message(0, datetime.now(UTC), Chat(chat_id, kind), from_user=sender)
        message.set_bot(self.app.bot)
        surface = TelegramSurface(self, message, sender, 0)
        surface.quote = None  # nothing to reply to
        return surface


def attachments(message: Message) -> tuple[Attachment, ...]:
    """What a command reads: a card file, or a hummed voice note with /sing as its caption, or
    the one /sing replies to."""
    found: tuple[Attachment, ...] = ()
    for each in filter(None, (message, message.reply_to_message)):
        if file := each.document:
            found += (Attachment("file", file.file_id, file.file_name or "file", size=file.file_size),)
        found += recordings(each)
    return found
