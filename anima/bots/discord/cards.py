"""Character cards sent to the bot: a PNG, JSON or YAML attachment from an admin in a DM is installed."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import discord

from anima.app import Runtime
from anima.characters.install import MAX_INSTALL_BYTES, install_card_reporting
from anima.errors import AnimaError, ConfigError

log = logging.getLogger(__name__)

CARD_SUFFIXES = (".png", ".json", ".yaml", ".yml")
MAX_PROBLEMS = 15  # an answer must fit in one Discord message
NOT_ADMIN = (
    "Only this bot's admins can install characters. You can still talk with the ones here: /character list"
)


def card_attachments(message: discord.Message) -> list[discord.Attachment]:
    """The attachments of `message` that look like character cards, by their file name."""
    return [a for a in message.attachments if Path(a.filename).suffix.lower() in CARD_SUFFIXES]


class CardInstaller:
    """Installs into the characters directory; the library reloads the new card before the answer goes
    out, so the admin's next message can already talk with it."""

    def __init__(self, runtime: Runtime, admins: list[str], max_bytes: int = MAX_INSTALL_BYTES) -> None:
        self.runtime = runtime
        self.admins = frozenset(admins)
        self.max_bytes = max_bytes

    async def install_all(self, sender: discord.abc.User, attachments: list[discord.Attachment]) -> str:
        """What to answer the sender: each card installed, or why it was not. Nothing is downloaded for
        someone who is not an admin."""
        if str(sender.id) not in self.admins:
            log.info("user %s sent a card file but is not an admin of this bot", sender.id)
            return NOT_ADMIN
        return "\n\n".join([await self._install(sender, attachment) for attachment in attachments])

    async def _install(self, sender: discord.abc.User, attachment: discord.Attachment) -> str:
        name = Path(attachment.filename).name
        if attachment.size > self.max_bytes:
            return (
                f"{name} is {attachment.size:,} bytes; a card file may have at most {self.max_bytes:,}. "
                "Nothing was installed."
            )
        try:
            data = await attachment.read()
        except discord.HTTPException as exc:
            log.warning("could not download card file %s: %s", name, exc)
            return f"I could not download {name} from Discord ({exc}). Please send it again."
        directory = self.runtime.characters.directory
        try:
            # Parsing a PNG and writing files is blocking work: off the event loop.
            imported = await asyncio.to_thread(
                install_card_reporting, data, name, directory, self.max_bytes, llm=self.runtime.settings.llm
            )
            card = imported.card
        except AnimaError as exc:
            problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            lines = [f"- {discord.utils.escape_markdown(p)}" for p in problems[:MAX_PROBLEMS]]
            if len(problems) > MAX_PROBLEMS:
                lines.append(f"- … and {len(problems) - MAX_PROBLEMS} more (anima card validate shows all)")
            return f"{name} was not installed:\n" + "\n".join(lines)
        except OSError:
            log.exception("could not write card %s into %s", name, directory)
            return f"{name} could not be written on the server; its log says why."
        await self.runtime.characters.reload([directory / f"{card.id}.yaml"])
        log.info("user %s installed character %s from %s", sender.id, card.id, name)
        return (
            f"Installed **{card.name}** (id `{card.id}`). Start a message with {card.name} to talk with "
            f"them, or bind them to a channel with /character set {card.id}"
        ) + "".join(f"\n- {discord.utils.escape_markdown(note)}" for note in imported.llm_notes)
