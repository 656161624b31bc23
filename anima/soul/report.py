"""Souls as text a person reads: the learned layer, pending proposals with evidence, the history.

`anima soul …` prints these; the Telegram and Discord /soul commands send them (cut to fit).
"""

from __future__ import annotations

from anima.characters.card import CharacterCard
from anima.soul.changes import Entry, Proposal, Version
from anima.soul.store import SoulStore


def _whose(item: Entry | Proposal) -> str:
    return f"with {item.platform}:{item.user_id} only" if item.user_id else "shared by every chat"


def visible_from(item: Entry | Proposal, platform: str | None, bot: str = "") -> bool:
    """Whether an admin of bot `bot` on `platform` may see it (None: the command line, everything):
    shared lines, and what came from (or is about) the conversations held through that bot. A row
    from before bots were told apart (no bot) is seen by every bot of its platform."""
    if platform is None:
        return True
    if item.user_id and item.platform != platform:
        return False
    if isinstance(item, Proposal):
        return item.source_platform == platform and _same_bot(item.source_bot, bot)
    return not item.user_id or _same_bot(item.bot_id, bot)


def _same_bot(theirs: str, bot: str) -> bool:
    return not theirs or not bot or theirs == bot


async def show(
    soul: SoulStore,
    card: CharacterCard,
    version: int | None = None,
    platform: str | None = None,
    bot: str = "",
) -> str:
    """The learned lines of a version (default: the current one); `platform`, `bot`: see visible_from."""
    current = await soul.version(card.id)
    at = current if version is None else version
    entries = [e for e in await soul.entries(card.id, at) if visible_from(e, platform, bot)]
    head = f"{card.name} ({card.id}): soul version {at}" + (f" of {current}" if at != current else "")
    head += f", growth {card.growth.mode}"
    if not entries:
        return head + "\nNothing learned yet: the card alone."
    lines = [head]
    for kind in ("backstory", "habit", "opinion", "relationship"):
        mine = [e for e in entries if e.kind == kind]
        if mine:
            lines.append(f"{kind}:")
            lines += [f"  - {e.text}" + ("" if e.shared else f"  ({_whose(e)})") for e in mine]
    return "\n".join(lines)


async def diff(
    soul: SoulStore,
    card: CharacterCard,
    command: str = "anima soul",
    platform: str | None = None,
    bot: str = "",
) -> str:
    """Pending proposals, each with its kind, scope, confidence and the messages behind it;
    `platform`, `bot`: only those an admin of that bot may see (visible_from)."""
    pending = [p for p in await soul.proposals(card.id) if visible_from(p, platform, bot)]
    version = await soul.version(card.id)
    head = f"{card.name} ({card.id}): {len(pending)} pending change{'s' * (len(pending) != 1)}"
    head += f" (soul version {version}, growth {card.growth.mode})"
    lines = [head]
    for proposal in pending:
        lines += ["", f"#{proposal.id} + {proposal.kind}: {proposal.text}"]
        lines.append(f"    confidence {proposal.confidence:.2f}, {_whose(proposal)}")
        lines.append(f"    evidence ({proposal.source_platform}:{proposal.source_user_id}):")
        for message in await soul.evidence(proposal):
            if message.deleted:
                lines.append(f"      #{message.message_id} (deleted)")
                continue
            who = "user" if message.role == "user" else card.name
            when = f"{message.created_at:%Y-%m-%d}" if message.created_at else ""
            lines.append(f"      #{message.message_id} {when} {who}: {message.content[:200]}")
    if pending:
        lines += ["", f"approve with `{command} approve ID`, reject with `{command} reject ID`"]
    return "\n".join(lines)


async def history(soul: SoulStore, card: CharacterCard, platform: str | None = None, bot: str = "") -> str:
    """Every version and who made it; a change from conversations an admin may not see (visible_from)
    is listed without its text."""
    versions: list[Version] = await soul.history(card.id)
    lines = [f"{card.name} ({card.id}): {len(versions)} soul versions after the card (version 0)"]
    for v in versions:
        note = v.note
        if platform is not None and v.proposal_id is not None:
            if not visible_from(await soul.proposal(v.proposal_id), platform, bot):
                note = "(a change from another bot's chats)"
        lines.append(f"v{v.version}  {v.created_at:%Y-%m-%d %H:%M}  {v.approved_by:<16} {note}")
    return "\n".join(lines)
