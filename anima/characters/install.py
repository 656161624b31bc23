"""Install a card file sent to a bot (PNG, JSON or YAML): validated before anything is written."""

from __future__ import annotations

from pathlib import Path

from anima.characters.card import CharacterCard
from anima.characters.importer import read_card, write_card
from anima.errors import ConfigError

MAX_INSTALL_BYTES = 8 * 1024 * 1024


def install_card(
    data: bytes,
    filename: str,
    directory: Path,
    max_bytes: int = MAX_INSTALL_BYTES,
    replace: bool = False,
) -> CharacterCard:
    """Validate `data` as a card and write it into `directory` (atomically); return the installed card.

    `filename` is only used for its suffix, for messages and as a fallback id: it never becomes a path.
    Raises ConfigError (its problems are safe to show the sender) when the file is too large, is not a
    card, does not validate, or its id is already taken and `replace` is false. The running library
    picks the new card up through hot reload.
    """
    if len(data) > max_bytes:
        raise ConfigError(
            [
                f"{Path(filename).name}: {len(data):,} bytes is more than the {max_bytes:,} "
                "a card file may have here"
            ]
        )
    imported = read_card(data, filename, directory)
    write_card(imported, directory, replace=replace)
    return imported.card
