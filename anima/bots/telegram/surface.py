"""One Telegram chat as the core's Surface: streamed edits, whole texts with buttons, voice notes,
"typing…", admins, and files fetched under a size cap. Built per update by the adapter."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, User
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.error import TelegramError

from anima.bots.telegram.limits import transient
from anima.bots.telegram.messages import (
    ONE_TRY,
    PLATFORM,
    TelegramPosts,
    is_private,
    mentions,
    quoting,
    replies_to,
    without_mention,
)
from anima.commands.buttons import button_data
from anima.core.addressing import addressed
from anima.core.messages import Attachment, Incoming, ReplyStream
from anima.core.sending import delivering
from anima.core.streaming import showing_while
from anima.core.surface import Action, Button, ChatKind, NotFetched, SpokenNote, fetch_capped, too_large

if TYPE_CHECKING:
    from anima.bots.telegram.adapter import TelegramAdapter

log = logging.getLogger(__name__)

ADMIN_STATUSES = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
ACTION_REFRESH_S = 4.0  # Telegram shows "typing…" for 5 s or until the bot sends a message
TYPING_GRACE_S = 0.3  # a reply faster than this needs no indicator (and saves a request)
MAX_CALLBACK_BYTES = 64  # Telegram's limit on a button's callback_data


class TelegramSurface:
    platform = PLATFORM
    private_answers = False  # Telegram shows everything sent to a group to all of it

    def __init__(self, adapter: TelegramAdapter, message: Message, sender: User, update_id: int) -> None:
        self.adapter = adapter
        self.message = message
        self.sender = sender
        self.update_id = update_id
        self.chat_id = str(message.chat.id)
        self.user_id = str(sender.id)
        self.display_name = sender.first_name
        self.bot_id = str(adapter.bot.id)
        self.kind: ChatKind = "private" if is_private(message) else "group"
        self.quote = None if self.kind == "private" else message.message_id

    async def addressed(self, message: Incoming) -> Incoming | None:
        """The core's rules over what Telegram tells (a mention of the bot, a reply to it); the
        character chosen in this chat (/character) speaks for the bot here, but does not make every
        group message the bot's."""
        adapter, bot = self.adapter, self.adapter.bot
        preferences, default = adapter.conversations.preferences, adapter.presence.character
        own = (await preferences.character(PLATFORM, [self.chat_id], self.bot_id, default)).id
        text, mentioned = without_mention(message.text, bot), mentions(self.message, bot)
        replied = own if replies_to(self.message, bot) else None
        characters = adapter.runtime.characters  # looked up each time: the library may be reloaded
        return addressed(message, characters, own, text=text, mentioned=mentioned, replied=replied)

    @asynccontextmanager
    async def replying(self, resumed: bool = False) -> AsyncIterator[ReplyStream]:
        pacer = self.adapter.pacer if self.kind == "private" else self.adapter.group_pacer
        ids = self.chat_id, self.user_id, self.update_id
        stream = await self.adapter.partials.stream(self._posts(), pacer, *ids, resumed)
        async with delivering("Telegram", transient):
            yield stream

    def showing(self, action: Action = "typing") -> AbstractAsyncContextManager[None]:
        """ "typing…" or "recording a voice message…", refreshed before Telegram hides it; one try
        each time (it is worth nothing late)."""
        shown = ChatAction.RECORD_VOICE if action == "recording" else ChatAction.TYPING

        async def show() -> None:
            await self.adapter.app.bot.send_chat_action(self.message.chat.id, shown, rate_limit_args=ONE_TRY)

        # making a note takes long enough that the indicator is worth it at once
        return showing_while(show, ACTION_REFRESH_S, 0.0 if action == "recording" else TYPING_GRACE_S)

    async def send_text(
        self, text: str, buttons: Sequence[Button] = (), private: bool = False, speaker: str = ""
    ) -> None:
        """A complete text (a command's answer), split when it is long; its buttons under its end."""
        rows = [
            [InlineKeyboardButton(b.label, callback_data=data)]
            for b in buttons
            if (data := button_data(self.user_id, b.command, MAX_CALLBACK_BYTES))
        ]
        posts = self._posts()
        pieces = posts.pieces(text)
        async with delivering("Telegram", transient):
            for i, piece in enumerate(pieces):
                markup = InlineKeyboardMarkup(rows) if rows and i == len(pieces) - 1 else None
                await posts.post(piece, first=i == 0, final=True, buttons=markup)

    async def send_voice(self, note: SpokenNote, caption: str = "") -> bool:
        try:
            async with delivering("Telegram", transient):
                await self.adapter.app.bot.send_voice(
                    self.message.chat.id,
                    voice=note.ogg,
                    filename="voice.ogg",
                    duration=max(1, round(note.duration_s)),  # Telegram takes whole seconds
                    reply_parameters=quoting(self.quote),
                )
        except TelegramError as exc:  # e.g. the person does not accept voice messages
            log.warning(
                "Telegram did not take the voice note for chat %s: %s", self.chat_id, type(exc).__name__
            )
            return False
        return True

    async def send_file(self, name: str, data: bytes, caption: str = "", photo: bool = False) -> None:
        send = self.adapter.app.bot.send_photo if photo else self.adapter.app.bot.send_document
        async with delivering("Telegram", transient):
            await send(self.message.chat.id, data, caption=caption or None, filename=name)

    async def is_chat_admin(self) -> bool:
        if self.kind == "private":
            return True
        try:
            member = await self.adapter.app.bot.get_chat_member(self.message.chat.id, self.sender.id)
        except TelegramError as exc:
            log.warning(
                "checking %s's status in chat %s failed: %s", self.user_id, self.chat_id, type(exc).__name__
            )
            return False
        return member.status in ADMIN_STATUSES

    def is_bot_admin(self) -> bool:
        return self.user_id in self.adapter.settings.admins

    async def fetch(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        async def download() -> bytes | NotFetched:
            file = await self.adapter.app.bot.get_file(attachment.url)
            refused = too_large(attachment.name or "the file", file.file_size, max_bytes)
            return refused or bytes(await file.download_as_bytearray())

        return await fetch_capped(attachment, max_bytes, download, "Telegram", (TelegramError,))

    def _posts(self) -> TelegramPosts:
        return TelegramPosts(self.adapter.app.bot, self.message.chat.id, self.quote, self.kind == "group")
