"""What a person is told when a song cannot be made: one wording for every way of asking /sing."""

from __future__ import annotations

import logging

from anima.core.surface import Text
from anima.errors import AnimaError, VoiceError

log = logging.getLogger(__name__)


def song_failed(character_name: str, chat_id: str, exc: AnimaError) -> Text:
    """The voice engine failing is the character's trouble (logged); anything else is the request's."""
    if isinstance(exc, VoiceError):
        log.warning("no song for chat %s: %s", chat_id, exc)
        return Text(f"{character_name} cannot sing right now: {exc}")
    return Text(f"I cannot sing that: {exc}")
