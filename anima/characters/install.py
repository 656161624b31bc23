"""Install a card file sent to a bot (PNG, JSON or YAML): validated before anything is written.

Every bound of limits.py holds here, below the adapters, so a Telegram or Discord upload is checked
exactly like `anima card import`: size first, then depth, values, texts, entries and paths, then the
card's `llm` settings held to the deployment's backends.
"""

from __future__ import annotations

from pathlib import Path

from anima.characters.importer import ImportedCard, read_card, write_card
from anima.config import LLMSettings
from anima.errors import InputRejected

MAX_INSTALL_BYTES = 8 * 1024 * 1024


def install_card_reporting(
    data: bytes,
    filename: str,
    directory: Path,
    max_bytes: int = MAX_INSTALL_BYTES,
    replace: bool = False,
    llm: LLMSettings | None = None,
) -> ImportedCard:
    """Validate `data` as a card and write it into `directory` (atomically); return the installed card
    with its warnings (what was kept, dropped, clamped).

    `filename` is only used for its suffix, for messages and as a fallback id: it never becomes a path.
    Raises ConfigError (its problems are safe to show the sender) when the file is too large, is not a
    card, does not validate, or its id is already taken and `replace` is false. The running library
    picks the new card up through hot reload. `llm` (the deployment's settings) clamps the card's own
    llm overrides.
    """
    if len(data) > max_bytes:
        raise InputRejected(
            [
                f"{Path(filename).name}: {len(data):,} bytes is more than the {max_bytes:,} "
                "a card file may have here"
            ]
        )
    imported = read_card(data, filename, directory, llm=llm)
    write_card(imported, directory, replace=replace)
    return imported
