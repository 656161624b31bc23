"""One Telegram chat as the core's Surface: streamed edits, whole texts with buttons, voice notes,
"typing…", admins, and files fetched under a size cap. Built per update by the adapter."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, User
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.error import TelegramError

from anima.bots.telegram.limits import transient
from anima.bots.telegram.messages import (
    PLATFORM,
    TelegramPosts,
    chat_action,
    defuse_mentions,
    is_addressed,
    is_private,
    send_text,
    without_mention,
)
from anima.core.messages import Attachment, Incoming, ReplyStream
from anima.core.sending import delivering
from anima.core.streaming import EditedReply, Shown
from anima.core.surface import Action, Button, ChatKind, NotFetched, SpokenNote, fetch_capped, too_large

if TYPE_CHECKING:
    from anima.bots.telegram.adapter import TelegramAdapter

log = logging.getLogger(__name__)

ADMIN_STATUSES = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
MAX_CALLBACK_BYTES = 64  # Telegram's limit on a button's callback_data


def callback_data(user_id: str, command: str) -> str | None:
    """A button's data: who may press it, and the command line it runs (None when too long)."""
    data = f"{user_id} {command}"
    return data if len(data.encode()) <= MAX_CALLBACK_BYTES else None


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
        card = await self.adapter.character(self.chat_id)
        if self.kind == "group" and not is_addressed(self.message, self.adapter.bot, card):
            return None
        text = without_mention(message.text, self.adapter.bot)
        return replace(message, text=text, character_id=card.id, mentions_bot=True)

    @asynccontextmanager
    async def replying(self, resumed: bool = False) -> AsyncIterator[ReplyStream]:
        adapter = self.adapter
        chat_id = self.message.chat.id
        pacer = adapter.pacer if self.kind == "private" else adapter.group_pacer
        stream = EditedReply(
            TelegramPosts(adapter.app.bot, chat_id, self.quote, self.kind == "group"),
            pacer,
            chat_id,
            first_after_s=pacer.interval,
            on_partial=adapter.partials.recorder(self.chat_id, self.user_id, self.update_id),
        )
        if resumed:  # the fragment it had streamed before the crash becomes the reply
            shown = await adapter.partials.shown(self.chat_id, self.user_id, self.update_id)
            stream.shown = [Shown(message_id, "") for message_id in shown]
        async with delivering("Telegram", transient):
            yield stream

    def showing(self, action: Action = "typing") -> AbstractAsyncContextManager[None]:
        if action == "recording":  # making a note takes long enough that the indicator is worth it
            return chat_action(self.adapter.app.bot, self.message.chat.id, ChatAction.RECORD_VOICE, grace_s=0)
        return chat_action(self.adapter.app.bot, self.message.chat.id)

    async def send_text(
        self, text: str, buttons: Sequence[Button] = (), private: bool = False, speaker: str = ""
    ) -> None:
        text = defuse_mentions(text) if self.kind == "group" else text
        rows = [
            [InlineKeyboardButton(b.label, callback_data=data)]
            for b in buttons
            if (data := callback_data(self.user_id, b.command))
        ]
        async with delivering("Telegram", transient):
            markup = InlineKeyboardMarkup(rows) if rows else None
            await send_text(self.adapter.app.bot, self.message.chat.id, text, self.quote, markup)

    async def send_voice(self, note: SpokenNote, caption: str = "") -> bool:
        try:
            async with delivering("Telegram", transient):
                await self.adapter.app.bot.send_voice(
                    self.message.chat.id,
                    voice=note.ogg,
                    filename="voice.ogg",
                    duration=max(1, round(note.duration_s)),  # Telegram takes whole seconds
                    reply_parameters=self._reply(),
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

    def _reply(self) -> ReplyParameters | None:
        return ReplyParameters(self.quote, allow_sending_without_reply=True) if self.quote else None
