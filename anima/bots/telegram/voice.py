"""Voice notes: "recording a voice message…" while the note is made, then sendVoice."""

from __future__ import annotations

import logging
from typing import Any

from telegram import ReplyParameters
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ExtBot

from anima.bots.telegram.delivery import chat_action
from anima.characters.card import CharacterCard
from anima.errors import AnimaError
from anima.voice import VoiceNote, VoiceService

log = logging.getLogger(__name__)


async def send_voice_note(
    bot: ExtBot[Any], voice: VoiceService, card: CharacterCard, text: str, chat_id: int, quote: int | None
) -> bool:
    """Speak `text` in the card's voice and send it as a voice note. False (and logged) when the note
    could not be made or Telegram refused it, so the caller can still deliver the text."""
    try:
        # No grace: making a note takes long enough that the indicator is always worth its request.
        async with chat_action(bot, chat_id, ChatAction.RECORD_VOICE, grace_s=0):
            note = await voice.speak(card, text)
    except AnimaError as exc:
        log.warning("no voice note for chat %s: %s", chat_id, exc)
        return False
    return await send_note(bot, note, chat_id, quote)


async def send_note(bot: ExtBot[Any], note: VoiceNote, chat_id: int, quote: int | None) -> bool:
    """Send a finished note (a reply spoken, a song sung); False (and logged) when Telegram refused it."""
    try:
        await bot.send_voice(
            chat_id,
            voice=note.ogg,
            filename="voice.ogg",
            duration=max(1, round(note.duration_s)),  # Telegram takes whole seconds
            reply_parameters=ReplyParameters(quote, allow_sending_without_reply=True) if quote else None,
        )
    except TelegramError as exc:  # e.g. the person does not accept voice messages
        log.warning("Telegram did not take the voice note for chat %s: %s", chat_id, exc)
        return False
    return True
