"""Character cards sent to the bot as files: a PNG, JSON or YAML card from an admin is installed.

The library reloads the new card before the answer goes out, so the admin's next message can
already choose it. Nothing is downloaded for someone who is not an admin, nor past the size cap.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from anima.commands.context import Context
from anima.core.messages import Attachment
from anima.core.surface import NotFetched, Text
from anima.errors import AnimaError, ConfigError

log = logging.getLogger(__name__)

CARD_SUFFIXES = (".png", ".json", ".yaml", ".yml")
MAX_PROBLEMS = 15  # an answer must fit in one message
NOT_ADMIN = "Only this bot's admins can install characters. You can still talk with the ones here: /character"


def is_card_file(name: str) -> bool:
    return Path(name).suffix.lower() in CARD_SUFFIXES


async def install_cards(ctx: Context) -> Text:
    """What to answer the sender: each card installed, or why it was not."""
    files = [a for a in ctx.attachments if is_card_file(a.name)]
    if not ctx.surface.is_bot_admin():
        log.info("user %s sent a card file but is not an admin of this bot", ctx.surface.user_id)
        return Text(NOT_ADMIN)
    return Text("\n\n".join([await _install(ctx, attachment) for attachment in files]))


async def _install(ctx: Context, attachment: Attachment) -> str:
    # Imported here: installing pulls in the importers (PNG, V2/V3 JSON), which chat never needs.
    from anima.characters.install import MAX_INSTALL_BYTES, install_card_reporting

    name = Path(attachment.name).name
    data = await ctx.surface.fetch(attachment, MAX_INSTALL_BYTES)
    if isinstance(data, NotFetched):
        return f"{data.reason}. Nothing was installed."
    library = ctx.app.pipeline.characters
    directory = library.directory
    try:
        # Parsing a PNG and writing files is blocking work: off the event loop.
        llm = ctx.app.llm
        imported = await asyncio.to_thread(
            install_card_reporting, data, name, directory, MAX_INSTALL_BYTES, llm=llm
        )
        card = imported.card
    except AnimaError as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        lines = [f"• {problem}" for problem in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            lines.append(f"• … and {len(problems) - MAX_PROBLEMS} more (anima card validate shows all)")
        return f"{name} was not installed:\n" + "\n".join(lines)
    except OSError:
        log.exception("could not write card %s into %s", name, directory)
        return f"{name} could not be written on the server; its log says why."
    await library.reload([directory / f"{card.id}.yaml"])
    log.info("user %s installed character %s from %s", ctx.surface.user_id, card.id, name)
    notes = "".join(f"\n• {note}" for note in imported.llm_notes)  # its llm settings, held to ours
    return f"Installed {card.name} (id {card.id}). Talk with them here: /character {card.id}{notes}"
