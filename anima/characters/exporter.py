"""Export a card as Character Card V2 or V3 JSON, or as a PNG carrying both (SillyTavern's way)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Literal

from anima.characters import png
from anima.characters.card import CharacterCard
from anima.characters.limits import MAX_PNG_BYTES, inside
from anima.characters.tavern import card_to_tavern
from anima.errors import ConfigError, InputRejected
from anima.yaml_source import display_path, read_bounded

ExportFormat = Literal["v2", "v3", "png"]


def export_card(card: CharacterCard, fmt: ExportFormat, directory: Path) -> bytes:
    """The exported file's bytes; `directory` is where the card's avatar image is looked up."""
    if fmt in ("v2", "v3"):
        text = json.dumps(card_to_tavern(card, fmt), ensure_ascii=False, indent=2)
        return text.encode("utf-8") + b"\n"
    image = _avatar_chunks(card, directory)
    texts = {
        # the V2 backfill for older readers, without V3 decorators; V3 readers use ccv3
        "chara": _chunk_text(card_to_tavern(card, "v2", strip_decorators=True)),
        "ccv3": _chunk_text(card_to_tavern(card, "v3")),
    }
    return png.with_texts(image, texts)


def export_name(card: CharacterCard, fmt: ExportFormat) -> str:
    return f"{card.id}.png" if fmt == "png" else f"{card.id}.{fmt}.json"


def _chunk_text(obj: object) -> str:
    raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def _avatar_chunks(card: CharacterCard, directory: Path) -> list[png.Chunk]:
    if not card.avatar:
        return png.plain_image()
    path = inside(directory, card.avatar)
    if path is None:
        raise InputRejected(
            [
                f"{card.id}: avatar: {card.avatar!r} is outside the characters folder; "
                "put the image next to the card"
            ]
        )
    if not path.is_file():
        raise ConfigError([f"{display_path(path)}: the card's avatar is missing"])
    try:
        return png.read_chunks(read_bounded(path, MAX_PNG_BYTES, "an avatar image"))
    except png.PngError as exc:
        raise ConfigError(
            [f"{display_path(path)}: the avatar must be a PNG to export the card as PNG: {exc}"]
        ) from None
