"""Character cards sent to the bot: a PNG, JSON or YAML document from an admin is installed."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from telegram import Document, User
from telegram.error import TelegramError
from telegram.ext import ExtBot

from anima.app import Runtime
from anima.characters.install import MAX_INSTALL_BYTES, install_card_reporting
from anima.errors import AnimaError, ConfigError

log = logging.getLogger(__name__)

CARD_SUFFIXES = (".png", ".json", ".yaml", ".yml")
NOT_ADMIN = "Only this bot's admins can install characters. You can still talk with the ones here: /character"


def is_card_file(document: Document) -> bool:
    return Path(document.file_name or "").suffix.lower() in CARD_SUFFIXES


class CardInstaller:
    """Installs into the characters directory; the library reloads the new card before the answer goes
    out, so the admin's next message can already choose it."""

    def __init__(self, runtime: Runtime, admins: list[str], max_bytes: int = MAX_INSTALL_BYTES) -> None:
        self.runtime = runtime
        self.admins = frozenset(admins)
        self.max_bytes = max_bytes

    def is_admin(self, user: User) -> bool:
        return str(user.id) in self.admins

    async def install(self, bot: ExtBot[Any], sender: User, document: Document) -> str:
        """What to answer the sender: the installed card, or why nothing was installed."""
        name = Path(document.file_name or "card").name
        if not self.is_admin(sender):
            log.info("user %s sent a card file but is not an admin of this bot", sender.id)
            return NOT_ADMIN
        if document.file_size is not None and document.file_size > self.max_bytes:
            return (
                f"{name} is {document.file_size:,} bytes; a card file may have at most {self.max_bytes:,}. "
                "Nothing was installed."
            )
        try:
            file = await bot.get_file(document.file_id)
            data = bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("could not download card file %s: %s", name, exc)
            return f"I could not download {name} from Telegram ({exc}). Please send it again."
        directory = self.runtime.characters.directory
        try:
            # Parsing a PNG and writing files is blocking work: off the event loop.
            imported = await asyncio.to_thread(
                install_card_reporting, data, name, directory, self.max_bytes, llm=self.runtime.settings.llm
            )
            card = imported.card
        except AnimaError as exc:
            problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            return f"{name} was not installed:\n" + "\n".join(f"• {p}" for p in problems)
        except OSError:
            log.exception("could not write card %s into %s", name, directory)
            return f"{name} could not be written on the server; its log says why."
        await self.runtime.characters.reload([directory / f"{card.id}.yaml"])
        log.info("user %s installed character %s from %s", sender.id, card.id, name)
        notes = "".join(f"\n• {note}" for note in imported.llm_notes)  # its llm settings, held to ours
        return f"Installed {card.name} (id {card.id}). Talk with them here: /character {card.id}{notes}"
