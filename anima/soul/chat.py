"""/soul in a chat (Telegram, Discord): the same reading, approving and rolling back as `anima soul`.

Platform-neutral: an adapter checks that the person is one of the bot's admins (the card owners),
then hands over the command's words and shows the text that comes back.
"""

from __future__ import annotations

from anima.characters.card import CharacterCard
from anima.errors import SoulError
from anima.soul import report
from anima.soul.store import SoulStore

USAGE = """/soul – what {char} has learned
/soul diff – pending changes with the messages behind them
/soul approve ID – apply a pending change
/soul reject ID – turn it down
/soul history – every version, who approved it
/soul rollback VERSION – restore a version exactly (0: the card alone)"""
ADMINS_ONLY = "Only this bot's admins (the card owners) can review what characters learn."
MAX_DIGITS = 15  # of an id or a version: past this no row has it, and SQLite's integers end at 19
MAX_CHARS = 3800  # under Telegram's 4096 and, cut further by Discord's adapter, its 2000


async def soul_command(soul: SoulStore, card: CharacterCard, words: list[str], by: str, bot: str = "") -> str:
    """The answer to `/soul WORDS` about `card`, approved or rolled back as `by` ("telegram:42"), an
    admin of bot account `bot`.

    A bot's admin acts on the character of this chat only, and sees and decides only what came
    from the conversations held through their own bot: a Discord admin never reads what someone
    told the character on Telegram, nor one Telegram bot's admin what was told to another bot
    (`anima soul` on the command line sees everything).
    """
    platform = by.partition(":")[0]
    action, rest = (words[0].lower(), words[1:]) if words else ("show", [])
    try:
        if action == "show":
            return _cut(await report.show(soul, card, _number(rest[0]) if rest else None, platform, bot))
        if action == "diff":
            return _cut(await report.diff(soul, card, "/soul", platform, bot))
        if action == "history":
            return _cut(await report.history(soul, card, platform, bot))
        if action in ("approve", "reject") and rest:
            ids = [_number(word.lstrip("#")) for word in rest]
            return "\n".join([await _decide(soul, card, action, i, by, platform, bot) for i in ids])
        if action == "rollback" and len(rest) == 1:
            version = _number(rest[0].lstrip("v"))
            if refused := await _not_theirs_to_undo(soul, card, version, by, platform, bot):
                return refused
            made = await soul.rollback(card.id, version, by)
            return f"{card.name} is at soul version {made.version}: the learned lines of version {rest[0]}."
    except ValueError:
        pass
    except SoulError as exc:
        return str(exc)
    return USAGE.format(char=card.name)


async def _decide(
    soul: SoulStore, card: CharacterCard, action: str, proposal_id: int, by: str, platform: str, bot: str
) -> str:
    proposal = await soul.proposal(proposal_id)
    if proposal.character_id != card.id:  # a refusal to show, not an error
        return f"#{proposal_id} is a change to another character; switch with /character first"
    if not report.visible_from(proposal, platform, bot):
        return f"#{proposal_id} came from another platform's or bot's chats: its own admins decide it"
    if action == "reject":
        rejected = await soul.reject(proposal_id, by)
        return f"#{rejected.id} rejected: {rejected.kind}: {rejected.text}"
    made = await soul.approve(proposal_id, by, card.growth)
    return f"#{proposal_id} applied: {card.name} is at soul version {made.version}."


async def _not_theirs_to_undo(
    soul: SoulStore, card: CharacterCard, version: int, by: str, platform: str, bot: str
) -> str | None:
    """Why this admin may not roll back to `version`, if a change it would undo is not theirs: one
    applied from another platform's or bot's chats, or a rollback someone else made. The character
    is one for every bot that serves it, so a bot's admins undo only what came through their bot."""
    for later in [v for v in await soul.history(card.id) if v.version > version]:
        if later.proposal_id is not None:
            theirs = report.visible_from(await soul.proposal(later.proposal_id), platform, bot)
        else:
            theirs = later.approved_by == by
        if not theirs:
            return (
                f"Version {later.version} came from another platform's or bot's chats, or from someone else: "
                f"its owner rolls {card.name} back with `anima soul rollback {card.id} {version}`."
            )
    return None


def _number(word: str) -> int:
    """A proposal id or version as typed: digits, and small enough for the database (ValueError if not)."""
    if not word.isdigit() or len(word) > MAX_DIGITS:
        raise ValueError(word)
    return int(word)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 2] + " …"
