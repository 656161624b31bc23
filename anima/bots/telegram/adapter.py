"""One Telegram bot: PTB's Application receives, the pipeline answers, the reply streams back."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import replace
from typing import TypedDict
from urllib.parse import urlparse

from telegram import LinkPreviewOptions, Message, Update, User
from telegram.constants import ChatAction, UpdateType
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from anima.app import Runtime
from anima.bots.telegram.cards import CardInstaller, is_card_file
from anima.bots.telegram.chats import ChatSettings
from anima.bots.telegram.commands import COMMANDS, Commands
from anima.bots.telegram.context import GroupContext
from anima.bots.telegram.delivery import EditPacer, EditStream, Shown, chat_action, final_text, send_text
from anima.bots.telegram.intake import PLATFORM, DurableQueue
from anima.bots.telegram.limits import FloodLimits
from anima.bots.telegram.resume import PartialReplies, remembered
from anima.bots.telegram.safety import SafetyCommand
from anima.bots.telegram.soul import SoulCommand
from anima.bots.telegram.translate import is_addressed, is_private, to_incoming, without_mention
from anima.bots.telegram.voice import send_voice_note
from anima.characters.card import CharacterCard
from anima.config import TelegramBotSettings
from anima.core.admission import Admitted, Refused, answer_refused
from anima.core.messages import DiscardStream, Incoming, Reply, ReplyStream
from anima.core.ordering import ConversationLocks
from anima.errors import AnimaError, ConfigError
from anima.voice import reply_form

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE

ONLY_TEXT = "Sorry, I can only read text for now."
ONLY_FIRST_VERSION = "I only read a message once; if you changed it, send it again."
SOMETHING_WENT_WRONG = "Sorry, something went wrong on my side. Please send that again."
POOL_SIZE = 8
POOL_TIMEOUT_S = 30.0
ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.EDITED_MESSAGE, UpdateType.CALLBACK_QUERY]


class RedactToken(logging.Filter):
    """httpx logs every request URL, and Telegram's URLs carry the token: keep it out of logs."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        return True


def worth_retrying_later(exc: BaseException) -> bool:
    """Telegram unreachable or still limiting after every retry: the reply may go through later.
    Refusals (a bad request, a bot blocked by the person) will not."""
    return isinstance(exc, RetryAfter) or (isinstance(exc, NetworkError) and not isinstance(exc, BadRequest))


class _Sent:
    """A reply sent whole (the busy line): nothing streams."""

    def __init__(self, bot: ExtBot[None], chat_id: int, quote: int | None) -> None:
        self.bot, self.chat_id, self.quote = bot, chat_id, quote

    async def delta(self, text: str) -> None:
        return None

    async def finish(self, reply: Reply) -> None:
        await send_text(self.bot, self.chat_id, final_text(reply), self.quote)


class _Webhook(TypedDict):
    """What `Updater.start_webhook` takes from the bot's settings."""

    listen: str
    port: int
    url_path: str
    webhook_url: str
    secret_token: str


class TelegramAdapter:
    """A bot bound to a default character; chats can choose another with /character."""

    def __init__(self, runtime: Runtime, settings: TelegramBotSettings, index: int = 0) -> None:
        self.runtime = runtime
        self.settings = settings
        self.name = f"telegram[{index}]"
        self.online = f"serving {self.name}"
        self._last_poll_failure = self._outage_since = self._outage_said = -1e9  # time.monotonic()
        self.default_character = runtime.characters.get(
            settings.character or runtime.settings.default_character
        ).id
        if settings.mode == "webhook" and not settings.url:
            raise ConfigError([f"bots.telegram[{index}]: mode: webhook needs url (the public HTTPS address)"])
        self.order = ConversationLocks()  # one person's updates in one chat are answered in order
        self.pacer = EditPacer(settings.edit_interval_s)
        self.group_pacer = EditPacer(settings.group_edit_interval_s)
        self.group_context = GroupContext(settings.group_context_lines)
        self.cards = CardInstaller(runtime, settings.admins)
        self.intake = DurableQueue(runtime.memory)
        self.replayed: set[int] = set()  # updates received before a crash, answered again now
        self.undelivered: set[int] = set()  # updates whose reply Telegram did not take: kept for later
        self.app = self._build()
        self._redact = RedactToken(settings.token.get_secret_value())
        # Set once the bot knows who it is (getMe, in start()).
        self.chats: ChatSettings
        self.partials: PartialReplies

    def _build(self) -> Application:
        token = self.settings.token.get_secret_value()
        self.limits = FloodLimits(self.settings.messages_per_second, self.settings.group_messages_per_minute)
        return (
            ApplicationBuilder()
            .token(token)
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

    async def start(self) -> None:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).addFilter(self._redact)
        try:
            await self.app.initialize()  # getMe: checks the token
        except InvalidToken:  # its message quotes the token: never shown
            raise ConfigError(
                [
                    f"bots.telegram: Telegram refused the token of {self.name}; copy it again from "
                    "@BotFather (/mybots → API Token)"
                ]
            ) from None
        except TelegramError as exc:
            raise AnimaError(
                f"{self.name}: cannot reach Telegram at {self.settings.base_url}: {exc}"
            ) from exc
        self.name = f"{self.name} @{self.bot.username}"
        character = self.runtime.characters.get(self.default_character).name
        self.online = f"{character} is online as @{self.bot.username} on Telegram"
        self.chats = ChatSettings(self.runtime, self.bot.id, self.default_character)
        self.intake.bot_id = str(self.bot.id)
        self.partials = PartialReplies(self.runtime.memory, self.bot.id)
        self._add_handlers()
        await self.app.bot.set_my_commands(COMMANDS)
        await self.app.start()
        # Before anything new: what was received but not answered when the last run ended.
        self.replayed.update(await self.intake.replay(self.app.bot))
        updater = self.app.updater
        assert updater is not None
        if self.settings.mode == "webhook":
            await updater.start_webhook(**self._webhook_options(), allowed_updates=ALLOWED_UPDATES)
        else:
            await updater.start_polling(allowed_updates=ALLOWED_UPDATES, error_callback=self._polling_failed)

    async def stop(self) -> None:
        """Stop fetching, answer what was fetched (retrying for at most a few seconds more: a reply
        Telegram did not take stays in the inbox for the next start), close the HTTP sessions."""
        self.limits.stopping()
        if self.app.updater and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).removeFilter(self._redact)

    def _webhook_options(self) -> _Webhook:
        url = self.settings.url or ""
        secret = self.settings.secret_token
        return {
            "listen": self.settings.listen,
            "port": self.settings.port,
            "url_path": urlparse(url).path.lstrip("/"),
            "webhook_url": url,
            # Telegram sends it back in a header; PTB refuses requests without it.
            "secret_token": secret.get_secret_value() if secret else secrets.token_urlsafe(32),
        }

    def _polling_failed(self, exc: TelegramError) -> None:
        """PTB retries polling by itself: say so once per outage (and every 5 minutes while it lasts)."""
        now = time.monotonic()
        if now - self._last_poll_failure > 60:  # the failures before this one ended a while ago
            self._outage_since, self._outage_said = now, now
            log.info("%s: cannot reach Telegram (%s); trying again until it answers", self.name, exc)
        elif now - self._outage_said > 300:
            self._outage_said = now
            minutes = (now - self._outage_since) / 60
            log.warning("%s: Telegram unreachable for %.0f minutes: %s", self.name, minutes, exc)
        else:
            log.debug("%s: polling failed, retrying: %s", self.name, exc)
        self._last_poll_failure = now

    def _add_handlers(self) -> None:
        app = self.app
        app.add_handlers(Commands(self.runtime, self.chats, self.order, self.group_context).handlers())
        app.add_handler(SafetyCommand(self.runtime, self.chats).handler())
        app.add_handler(SoulCommand(self.runtime, self.chats, self.settings.admins).handler())
        app.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, self._on_text)
        )
        private = filters.ChatType.PRIVATE
        app.add_handler(MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, self._on_edited))
        app.add_handler(
            MessageHandler(private & filters.UpdateType.MESSAGE & filters.COMMAND, self._on_unknown)
        )
        app.add_handler(
            MessageHandler(private & filters.UpdateType.MESSAGE & filters.Document.ALL, self._on_file)
        )
        app.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE, self._on_not_text))
        app.add_handler(TypeHandler(Update, self._end), group=1)
        app.add_error_handler(self._on_error)

    async def _end(self, update: Update, context: Context) -> None:
        """Every handler of the update returned: it is answered, never to be replayed; unless its
        reply did not reach Telegram, and then it stays in the inbox until the next start."""
        self.replayed.discard(update.update_id)
        if update.update_id in self.undelivered:
            self.undelivered.discard(update.update_id)
            log.warning("%s: update %s kept: it is answered at the next start", self.name, update.update_id)
            return
        await self.intake.answered(update.update_id)

    async def _on_text(self, update: Update, context: Context) -> None:
        message, sender = update.message, update.effective_user
        if message is None or sender is None or sender.is_bot or not message.text:
            return  # bots are never answered: no loops between bots
        # A place in the person's queue first (synchronous, so arrival order holds): a flood gets
        # the busy line once, and waits in a bounded queue, never in an unbounded one.
        slot = self.runtime.pipeline.admission.enter((PLATFORM, message.chat.id, sender.id))
        if isinstance(slot, Refused):
            await self._busy(slot, message, sender)
            return
        # Taken before anything else awaits: updates start in arrival order, so replies keep it too.
        async with slot, self.order.hold((message.chat.id, sender.id)):
            await self._text_turn(update, slot)

    async def _busy(self, refused: Refused, message: Message, sender: User) -> None:
        """Over the bound: the character's busy line, once per burst; group chatter gets nothing."""
        card = await self.chats.character(message.chat.id)
        private = is_private(message)
        if not private and not is_addressed(message, self.bot, card):
            self.runtime.pipeline.admission.not_told((PLATFORM, message.chat.id, sender.id))
            return
        quote = None if private else message.message_id
        await answer_refused(refused, card, sender.first_name, _Sent(self.app.bot, message.chat.id, quote))

    async def _text_turn(self, update: Update, slot: Admitted | None, earlier_too: bool = True) -> None:
        """Answer one text update. With several processes on one database, under the conversation's
        lock: the update is answered and marked answered there, so another process finds it answered;
        earlier updates of the conversation still unanswered (taken by another process that has not
        had its turn yet, or died) are answered first, so the conversation keeps Telegram's order."""
        message, sender = update.message, update.effective_user
        assert message is not None and sender is not None and message.text
        card = await self.chats.character(message.chat.id)
        private = is_private(message)
        shared = ""
        if not private:
            shared = self.group_context.for_user(message.chat.id, sender.id)
            self.group_context.add(message.chat.id, sender.id, sender.first_name, message.text)
            if not is_addressed(message, self.bot, card):
                return
        text = without_mention(message.text, self.bot)
        incoming = to_incoming(message, sender, card, text, addressed=True, chat_context=shared)
        if self.runtime.shared_locks is None:  # one process: the inbox at the door is enough
            await self._answer_text(update, incoming, card, slot)
            return
        async with self.runtime.pipeline.hold(incoming):
            earlier = await self.intake.turn(update, self.app.bot)
            if earlier is None:
                return  # answered already (by another process, or a replay of it)
            for other in earlier if earlier_too else []:
                await self._foreign_turn(other)
            await self._answer_text(update, incoming, card, slot)
            if update.update_id not in self.undelivered:
                await self.intake.answered(update.update_id)

    async def _foreign_turn(self, update: Update) -> None:
        """An earlier update of this conversation that another process took and has not answered:
        answered here, memory deciding what was done already (as for a replay after a crash)."""
        self.replayed.add(update.update_id)
        try:
            await self._text_turn(update, None, earlier_too=False)
            if update.update_id not in self.undelivered:  # also group chatter, which is not answered
                await self.intake.answered(update.update_id)
        finally:
            self.replayed.discard(update.update_id)
            self.undelivered.discard(update.update_id)

    async def _answer_text(
        self, update: Update, incoming: Incoming, card: CharacterCard, slot: Admitted | None
    ) -> None:
        message, sender = update.message, update.effective_user
        assert message is not None and sender is not None
        bot = self.app.bot
        private = is_private(message)
        delivery = reply_form(card, await self.chats.voice(message.chat.id, sender.id))
        stream = EditStream(
            bot,
            message.chat.id,
            self.pacer if private else self.group_pacer,
            quote=None if private else message.message_id,
            in_group=not private,
            on_partial=self.partials.recorder(message.chat.id, sender.id, update.update_id),
        )
        if update.update_id in self.replayed:  # the fragment it had streamed becomes the reply
            shown = await self.partials.shown(message.chat.id, sender.id, update.update_id)
            stream.shown = [Shown(message_id, "") for message_id in shown]
        try:
            # Voice only: nothing streams, and the chat shows "recording…" from the start.
            action = ChatAction.TYPING if delivery.text else ChatAction.RECORD_VOICE
            async with chat_action(bot, message.chat.id, action):
                reply = await self._reply(
                    update.update_id, incoming, card, stream if delivery.text else DiscardStream(), slot
                )
            if reply is not None and delivery.voice:
                await self._speak(bot, card, reply, stream, text_sent=delivery.text)
            if reply is not None and not private:
                self.group_context.add(message.chat.id, sender.id, card.name, reply.text)
        except Exception as exc:
            if worth_retrying_later(exc):
                self.undelivered.add(update.update_id)
                log.warning("%s: Telegram did not take a reply, kept for later: %s", self.name, exc)
                return
            log.exception("%s: answering message %s failed", self.name, message.message_id)
            if private:
                await send_text(bot, message.chat.id, SOMETHING_WENT_WRONG)

    async def _reply(
        self,
        update_id: int,
        incoming: Incoming,
        card: CharacterCard,
        stream: ReplyStream,
        slot: Admitted | None = None,
    ) -> Reply | None:
        """The pipeline's answer. For an update replayed after a crash, memory decides: a reply
        stored there is sent as it is (it may never have reached Telegram), a message stored without
        one is answered without being stored twice, and one never stored takes the usual way."""
        if update_id in self.replayed and incoming.message_id:
            key = self.runtime.pipeline.key_for(incoming, card)
            found = await remembered(self.runtime.memory, key, incoming.message_id)
            if found.reply is not None:
                reply = Reply(found.reply, card.id, card.name)
                await stream.finish(reply)
                return reply
            if found.stored:
                incoming = replace(incoming, resumed=True)
        return await self.runtime.pipeline.handle(incoming, stream, slot)

    async def _speak(
        self, bot: ExtBot[None], card: CharacterCard, reply: Reply, stream: EditStream, text_sent: bool
    ) -> None:
        """The voice note for a reply. Without its text already sent, the text goes out when no note
        does (a failed reply is never spoken: its apology is text), or just the notices when one did."""
        chat_id = stream.chat_id
        spoken = not reply.failed and await send_voice_note(
            bot, self.runtime.voice, card, reply.text, chat_id, stream.quote
        )
        if text_sent:
            return
        if not spoken:
            await stream.finish(reply)
        elif reply.notices:
            await send_text(bot, chat_id, "\n".join(f"({n})" for n in reply.notices), stream.quote)

    async def _on_file(self, update: Update, context: Context) -> None:
        """A document in a private chat: a character card to install, or a file the bot cannot read."""
        message, sender = update.message, update.effective_user
        if message is None or message.document is None or sender is None or sender.is_bot:
            return
        if not is_card_file(message.document):
            await send_text(context.bot, message.chat.id, ONLY_TEXT)
            return
        answer = await self.cards.install(context.bot, sender, message.document)
        await send_text(context.bot, message.chat.id, answer)

    async def _on_edited(self, update: Update, context: Context) -> None:
        await self._note(update, context, ONLY_FIRST_VERSION)

    async def _on_not_text(self, update: Update, context: Context) -> None:
        await self._note(update, context, ONLY_TEXT)

    async def _on_unknown(self, update: Update, context: Context) -> None:
        await self._note(update, context, "I don't know that command. /help lists what I understand.")

    async def _note(self, update: Update, context: Context, text: str) -> None:
        """A short note in a private chat (handlers are registered for private chats only)."""
        message, sender = update.effective_message, update.effective_user
        if isinstance(message, Message) and sender is not None and not sender.is_bot:
            await send_text(context.bot, message.chat.id, text)

    async def _on_error(self, update: object, context: Context) -> None:
        """PTB calls this for an exception in any handler; polling goes on."""
        if isinstance(update, Update) and context.error is not None and worth_retrying_later(context.error):
            self.undelivered.add(update.update_id)
        log.error("%s: handling an update failed", self.name, exc_info=context.error)
