"""/sing: the character sings a melody typed in the notation, or a MIDI/MusicXML file sent with /sing as its
caption (or answered with /sing), and answers with a voice note."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Document, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, ExtBot, MessageHandler, filters

from anima.app import Runtime
from anima.bots.telegram.chats import ChatSettings
from anima.bots.telegram.delivery import chat_action, send_text
from anima.bots.telegram.translate import is_private, to_incoming
from anima.bots.telegram.voice import send_note
from anima.commands.singing.checks import Refusal, admit, check_lyrics
from anima.commands.singing.request import score_for
from anima.errors import AnimaError, VoiceError
from anima.voice.sing.files import MAX_FILE_BYTES, is_score_file
from anima.voice.sing.singer import Busy, Singer, busy_line

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE

HOW = (
    "Write the notes, then the lyrics: /sing tempo=96 | C4 D4 E4/2 G4/2 | 小 星 星 亮\n"
    "or send a MIDI or MusicXML file with /sing as its caption. /sing about the sea | C4 D4 E4 G4 "
    "has new lyrics written for the melody."
)


class SingCommand:
    def __init__(self, runtime: Runtime, chats: ChatSettings) -> None:
        self.runtime = runtime
        self.chats = chats
        self.singer = Singer(runtime.voice)

    def handlers(self) -> list[BaseHandler[Update, Context, None]]:
        captioned = filters.Document.ALL & filters.CaptionRegex(r"^/sing(@\w+)?\b")
        return [CommandHandler("sing", self.sing), MessageHandler(captioned, self.sing)]

    async def sing(self, update: Update, context: Context) -> None:
        message, sender = update.effective_message, update.effective_user
        if message is None or sender is None or sender.is_bot:
            return
        quote = None if is_private(message) else message.message_id
        text = message.text or message.caption or ""
        if text.split(maxsplit=1)[1:] == [] and _document(message) is None:
            await send_text(context.bot, message.chat.id, HOW, quote)
            return
        card = await self.chats.character(message.chat.id)
        incoming = to_incoming(message, sender, card, text, addressed=True)
        turn = await admit(self.runtime.pipeline.safety, incoming, card)
        if isinstance(turn, Refusal):
            if turn.text:
                await send_text(context.bot, message.chat.id, turn.text, quote)
            return
        if self.singer.busy:  # before downloading or reading the score
            await send_text(context.bot, message.chat.id, busy_line(card, sender.first_name), quote)
            return
        try:
            async with chat_action(context.bot, message.chat.id, ChatAction.RECORD_VOICE, grace_s=0):
                file = await _score_file(context.bot, message)
                song = await score_for(text, card, self.runtime.router, file)
                if refused := await check_lyrics(turn, song.score):
                    await send_text(context.bot, message.chat.id, refused.text, quote)
                    return
                note = await self.singer.sing(card, song.score, song.backing)
        except VoiceError as exc:
            log.warning("no song for chat %s: %s", message.chat.id, exc)
            await send_text(context.bot, message.chat.id, f"{card.name} cannot sing right now: {exc}", quote)
            return
        except AnimaError as exc:
            await send_text(context.bot, message.chat.id, f"I cannot sing that: {exc}", quote)
            return
        if isinstance(note, Busy):
            await send_text(context.bot, message.chat.id, busy_line(card, sender.first_name), quote)
            return
        if not await send_note(context.bot, note, message.chat.id, quote):
            await send_text(
                context.bot, message.chat.id, "Telegram did not take the song; please try again.", quote
            )


def _document(message: Message) -> Document | None:
    for candidate in (message, message.reply_to_message):
        if candidate is not None and candidate.document and is_score_file(candidate.document.file_name or ""):
            return candidate.document
    return None


async def _score_file(bot: ExtBot[Any], message: Message) -> tuple[bytes, str] | None:
    document = _document(message)
    if document is None:
        return None
    name = document.file_name or "score"
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        raise AnimaError(
            f"{name} is {document.file_size:,} bytes; a score may have at most {MAX_FILE_BYTES:,}"
        )
    try:
        file = await bot.get_file(document.file_id)
        return bytes(await file.download_as_bytearray()), name
    except TelegramError as exc:
        raise AnimaError(f"I could not download {name} from Telegram ({exc}); please send it again") from None
