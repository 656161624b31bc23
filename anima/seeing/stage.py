"""The seeing stage: a picture someone sends is shown to the character with the message.

The conversation service calls `Seeing.look` once per message, in the person's turn, before the
pipeline: each picture is fetched through the surface (bounded by images.max_mb), prepared off the
event loop (`picture.prepare`: caps checked on the header before any decode, EXIF gone, ≤ 1024 px
JPEG), and carried on the message as `images`. The caption stays the text, so it passes the input
checks like anything typed; the pipeline shows the pictures to a backend with vision and tells one
without vision that a picture came. A picture that cannot be used is answered with one line.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import PurePosixPath

from anima.characters.card import CharacterCard
from anima.config import ImagesSettings
from anima.core.messages import Attachment, Incoming, KeptPicture
from anima.core.surface import NotFetched, Surface
from anima.errors import ImageError
from anima.seeing.picture import Picture, PictureLimits, configure_pillow, prepare

log = logging.getLogger(__name__)

IMAGE_KINDS = ("image", "photo")  # what adapters call a picture's attachment
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
MAX_PER_MESSAGE = 4  # pictures looked at in one message; more are left out, with a line


def is_picture(attachment: Attachment) -> bool:
    """A picture by its kind, its MIME type, or (a file sent as a document) its name."""
    if attachment.kind in IMAGE_KINDS or attachment.mime_type.lower().startswith("image/"):
        return True
    return attachment.kind in ("file", "document") and (
        PurePosixPath(attachment.name.lower()).suffix in IMAGE_SUFFIXES
    )


def pictures(message: Incoming) -> list[Attachment]:
    return [a for a in message.attachments if is_picture(a)]


def apology(character_name: str, error: ImageError) -> str:
    """The line for a picture that could not be looked at."""
    return f"🖼 {character_name} couldn't look at your picture: {str(error).rstrip('.')}."


class Seeing:
    """`conversations.Seer`: pictures in, prepared for the model (and kept as thumbnails)."""

    def __init__(self, settings: ImagesSettings) -> None:
        self.settings = settings
        self.limits = PictureLimits(
            max_bytes=int(settings.max_mb * 1e6),
            max_pixels=settings.max_pixels,
            max_side=settings.max_side,
            thumbnail_side=settings.thumbnail_side,
        )
        configure_pillow(self.limits)
        self._decoding = asyncio.Semaphore(settings.max_concurrency)

    async def prepare(self, data: bytes) -> Picture:
        """`picture.prepare` off the event loop, at most images.max_concurrency at once."""
        async with self._decoding:
            return await asyncio.to_thread(prepare, data, self.limits)

    async def look(self, message: Incoming, surface: Surface, card: CharacterCard) -> Incoming | None:
        """The message with its pictures prepared (`images`); as it is when it has none; None when
        none of them could be used and there is no caption to answer (the person was told why)."""
        found = pictures(message)
        if not found or not self.settings.see:
            return message
        prepared: list[Picture] = []
        kept: list[KeptPicture] = []
        for attachment in found[:MAX_PER_MESSAGE]:
            try:
                data = await surface.fetch(attachment, self.limits.max_bytes)
                if isinstance(data, NotFetched):
                    raise ImageError(data.reason)
                picture = await self.prepare(data)
                prepared.append(picture)
                kept.append(
                    KeptPicture(
                        attachment.url,
                        picture.sha256,
                        picture.original_width,
                        picture.original_height,
                        picture.thumbnail,
                    )
                )
            except ImageError as exc:
                log.info("%s: a picture was not used: %s", message.platform, exc)
                await surface.send_text(apology(card.name, exc))
        if len(found) > MAX_PER_MESSAGE:
            await surface.send_text(f"(Only the first {MAX_PER_MESSAGE} pictures were looked at.)")
        if not prepared and not message.text.strip():
            return None
        return replace(message, images=tuple(p.jpeg for p in prepared), kept=tuple(kept))
