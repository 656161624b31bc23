"""Voice replies on Discord: a native voice message, or an OGG file where Discord refuses one.

discord.py has no API for voice messages (its issue #10165), so the message is posted through its own
HTTP client with a raw route: rate limits and retries stay in discord.py, the multipart shape is the one
its `send_files` builds (`payload_json`, then `files[0]`), and the attachment carries the duration and
waveform that make Discord show a voice message.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import discord

from anima.core.surface import SpokenNote

log = logging.getLogger(__name__)

IS_VOICE_MESSAGE = 1 << 13
FILENAME = "voice-message.ogg"


def voice_file(note: SpokenNote) -> discord.File:
    return discord.File(io.BytesIO(note.ogg), FILENAME)


async def post_voice_message(
    http: discord.http.HTTPClient,
    channel_id: int,
    note: SpokenNote,
    mentions: discord.AllowedMentions,
    reference: discord.MessageReference | None = None,
) -> Any:
    """Post `note` as a voice message. Raises discord.HTTPException when Discord refuses it (without
    SEND_VOICE_MESSAGES, 403 with code 50013; where voice messages are off, 50173)."""
    payload: dict[str, Any] = {
        "flags": IS_VOICE_MESSAGE,
        "attachments": [
            {"id": "0", "filename": FILENAME, "duration_secs": note.duration_s, "waveform": note.waveform_b64}
        ],
        "allowed_mentions": mentions.to_dict(),
    }
    if reference is not None:
        payload["message_reference"] = reference.to_message_reference_dict()
    file = voice_file(note)
    form: list[dict[str, Any]] = [
        {"name": "payload_json", "value": json.dumps(payload)},
        {"name": "files[0]", "value": file.fp, "filename": FILENAME, "content_type": "audio/ogg"},
    ]
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
    # `files` lets discord.py rewind the file before each retry.
    return await http.request(route, form=form, files=[file])
