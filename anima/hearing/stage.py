"""The listening stage: a message that came as a recording is answered as if its words were typed.

The conversation service calls `Listening.listen` once per message, in the person's turn, before the
pipeline: the recording is fetched through the surface (bounded by stt.max_mb), heard off the event
loop, and the transcript becomes the message's text, so it passes the input checks and is stored and
recalled like anything typed. A recording that cannot be heard is answered with one line saying why.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from anima.characters.card import CharacterCard
from anima.core.messages import Attachment, Incoming
from anima.core.surface import NotFetched, Surface
from anima.errors import HearingError
from anima.hearing.service import HearingService, apology, heard_line

log = logging.getLogger(__name__)

RECORDING_KINDS = ("voice", "audio", "video_note")  # what adapters call a recording's attachment


def recording(message: Incoming) -> Attachment | None:
    """The message's recording (a voice note, an audio file, a video note), if it has one."""
    return next((a for a in message.attachments if a.kind in RECORDING_KINDS), None)


class Listening:
    """`conversations.Listener`: voice messages in, their words out."""

    def __init__(self, hearing: HearingService, reply_to_voice: bool) -> None:
        self.hearing = hearing
        self.reply_in_voice = reply_to_voice  # a person who spoke is answered with a voice note

    async def listen(self, message: Incoming, surface: Surface, card: CharacterCard) -> Incoming | None:
        """The message with the words heard in its recording as its text (and `spoken` set); the
        message as it is when it has no recording; None when the recording could not be heard (the
        person was told why)."""
        attachment = recording(message)
        if attachment is None:
            return message
        settings = self.hearing.settings
        try:
            if not self.hearing.on:
                raise HearingError("voice messages are not listened to here (stt.engine is none)")
            data = await surface.fetch(attachment, int(settings.max_mb * 1e6))
            if isinstance(data, NotFetched):
                raise HearingError(data.reason)
            async with surface.showing("typing"):
                transcript = await self.hearing.hear(data, self.hearing.languages(card.language))
        except HearingError as exc:
            log.info("%s: a voice message was not heard: %s", message.platform, exc)
            await surface.send_text(apology(card.name, exc))
            return None
        if settings.echo:
            await surface.send_text(heard_line(transcript.text))
        caption = message.text.strip()
        text = f"{caption}\n{transcript.text}" if caption else transcript.text
        return replace(message, text=text, spoken=True)
