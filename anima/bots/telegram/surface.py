"""One Telegram chat as the core's Surface (what all platforms share is anima/bots/surface.py):
streamed edits, texts with buttons, voice notes, "typing…", admins, files. Built per update."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, User
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.error import TelegramError

from anima.bots.surface import BotSurface
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
from anima.core.addressing import Heard
from anima.core.messages import Attachment, Incoming, ReplyStream
from anima.core.surface import Action, ChatKind, NotFetched, VoiceNote, too_large

if TYPE_CHECKING:
    from anima.bots.telegram.adapter import TelegramAdapter

ADMIN_STATUSES = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


class TelegramSurface(BotSurface[InlineKeyboardMarkup]):
    platform = PLATFORM
    show_every_s = 4.0  # Telegram shows "typing…" for 5 s or until the bot sends a message
    refusals = (TelegramError,)
    max_button_data = 64  # Telegram's limit on a button's callback_data
    transient = staticmethod(transient)

    def __init__(self, adapter: TelegramAdapter, message: Message, sender: User, update_id: int) -> None:
        kind: ChatKind = "private" if is_private(message) else "group"
        super().__init__(adapter, str(message.chat.id), str(sender.id), sender.first_name, kind)
        self.adapter, self.message, self.sender, self.update_id = adapter, message, sender, update_id
        self.bot_key = self.bot_id  # each bot of a group has its own /character there
        self.quote = None if kind == "private" else message.message_id

    async def heard(self, message: Incoming) -> Heard:
        """A mention of the bot, a reply to it; the character chosen in this chat (/character) speaks
        for the bot here, but does not make every group message the bot's."""
        adapter, bot = self.adapter, self.adapter.bot
        preferences, default = adapter.conversations.preferences, adapter.presence.character
        own = (await preferences.character(PLATFORM, [self.chat_id], self.bot_id, default)).id
        replied = own if replies_to(self.message, bot) else None
        return Heard(own, without_mention(message.text, bot), mentions(self.message, bot), replied)

    async def stream(self, resumed: bool) -> ReplyStream:
        pacer = self.adapter.pacer if self.kind == "private" else self.adapter.group_pacer
        ids = self.chat_id, self.user_id, self.update_id
        return await self.adapter.partials.stream(self._posts(), pacer, *ids, resumed)

    async def show(self, action: Action) -> None:
        """One try each time: it is worth nothing late."""
        shown = ChatAction.RECORD_VOICE if action == "recording" else ChatAction.TYPING
        await self.adapter.app.bot.send_chat_action(self.message.chat.id, shown, rate_limit_args=ONE_TRY)

    def pieces(self, text: str) -> list[str]:
        return self._posts().pieces(text)

    def markup(self, buttons: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(label, callback_data=data)] for label, data in buttons]
        )

    async def post(
        self, piece: str, first: bool, keyboard: InlineKeyboardMarkup | None, private: bool
    ) -> None:
        await self._posts().post(piece, first=first, final=True, buttons=keyboard)

    async def post_voice(self, note: VoiceNote, caption: str) -> None:
        await self.adapter.app.bot.send_voice(
            self.message.chat.id,
            voice=note.ogg,
            filename="voice.ogg",
            duration=max(1, round(note.duration_s)),  # Telegram takes whole seconds
            reply_parameters=quoting(self.quote),
        )

    async def send_file(self, name: str, data: bytes, caption: str = "", photo: bool = False) -> None:
        send = self.adapter.app.bot.send_photo if photo else self.adapter.app.bot.send_document
        async with self.delivering():
            await send(self.message.chat.id, data, caption=caption or None, filename=name)

    async def is_group_admin(self) -> bool:
        member = await self.adapter.app.bot.get_chat_member(self.message.chat.id, self.sender.id)
        return member.status in ADMIN_STATUSES

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        file = await self.adapter.app.bot.get_file(attachment.url)
        refused = too_large(attachment.name or "the file", file.file_size, max_bytes)
        return refused or bytes(await file.download_as_bytearray())

    def _posts(self) -> TelegramPosts:
        return TelegramPosts(self.adapter.app.bot, self.message.chat.id, self.quote, self.kind == "group")
