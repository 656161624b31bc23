"""`anima soul show|diff|approve|reject|history|rollback|export`: growth, from the command line."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from anima.characters.card import CharacterCard
from anima.characters.importer import dump_card_yaml
from anima.characters.library import CharacterLibrary
from anima.characters.tavern import card_to_tavern
from anima.config import Settings
from anima.memory.store import MemoryStore
from anima.soul import report
from anima.soul.export import merged_card
from anima.soul.store import SoulStore


def who() -> str:
    """Who approves from this terminal, as the history records it."""
    return f"cli:{getpass.getuser() or 'owner'}"


@asynccontextmanager
async def _soul(settings: Settings) -> AsyncIterator[tuple[SoulStore, CharacterLibrary]]:
    library = CharacterLibrary.load(settings.resolve(settings.characters_dir))
    memory = await MemoryStore.open(settings.database_url)
    try:
        yield SoulStore(memory), library
    finally:
        await memory.close()


async def run(settings: Settings, args: Any) -> int:
    """Dispatch one `anima soul` command (args from anima.cli's parser)."""
    command: Callable[[SoulStore, CharacterLibrary, Any], Coroutine[Any, Any, str]] = COMMANDS[
        args.soul_command
    ]
    async with _soul(settings) as (soul, library):
        text = await command(soul, library, args)
    if text:
        print(text)
    return 0


async def _show(soul: SoulStore, library: CharacterLibrary, args: Any) -> str:
    return await report.show(soul, library.get(args.character), args.version)


async def _diff(soul: SoulStore, library: CharacterLibrary, args: Any) -> str:
    return await report.diff(soul, library.get(args.character))


async def _approve(soul: SoulStore, library: CharacterLibrary, args: Any) -> str:
    done = []
    for proposal_id in args.ids:
        proposal = await soul.proposal(proposal_id)
        card = _card(library, proposal.character_id)
        version = await soul.approve(proposal_id, who(), card.growth if card else None)
        done.append(f"#{proposal_id} applied: {proposal.character_id} is at soul version {version.version}")
    return "\n".join(done)


async def _reject(soul: SoulStore, library: CharacterLibrary, args: Any) -> str:
    done = []
    for proposal_id in args.ids:
        proposal = await soul.reject(proposal_id, who(), args.reason or "rejected by the owner")
        done.append(f"#{proposal_id} rejected: {proposal.kind}: {proposal.text}")
    return "\n".join(done)


async def _history(soul: SoulStore, library: CharacterLibrary, args: Any) -> str:
    return await report.history(soul, library.get(args.character))


async def _rollback(soul: SoulStore, library: CharacterLibrary, args: Any) -> str:
    card = library.get(args.character)
    made = await soul.rollback(card.id, args.version, who())
    return f"{card.name} is at soul version {made.version}: the learned lines of version {args.version}"


async def _export(soul: SoulStore, library: CharacterLibrary, args: Any) -> str:
    card = library.get(args.character)
    version = await soul.version(card.id)
    grown = merged_card(card, await soul.entries(card.id), version)
    if args.format == "yaml":
        text = dump_card_yaml(
            grown, f"# {card.name} with soul version {version} merged (anima soul export)\n"
        )
    else:
        text = json.dumps(card_to_tavern(grown, args.format), ensure_ascii=False, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return ""
    out: Path = args.out
    await asyncio.to_thread(out.write_text, text, encoding="utf-8")
    return f"{out}: {card.name} with soul version {version} merged"


def _card(library: CharacterLibrary, card_id: str) -> CharacterCard | None:
    return library.cards.get(card_id)


COMMANDS = {
    "show": _show,
    "diff": _diff,
    "approve": _approve,
    "reject": _reject,
    "history": _history,
    "rollback": _rollback,
    "export": _export,
}
