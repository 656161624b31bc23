"""`anima soul export`: a card with its shared learned lines merged in, to share the grown character.

Relationship lines stay out: they belong to the people they are about. The authored card file is
never touched; the export is a new card.
"""

from __future__ import annotations

from anima.characters.card import CharacterCard
from anima.soul.changes import Entry


def merged_card(card: CharacterCard, entries: list[Entry], version: int) -> CharacterCard:
    """The card with learned backstory after its backstory and habits/opinions after its personality."""
    shared = [e for e in entries if e.shared]

    def lines(kind: str) -> list[str]:
        return [f"- {e.text}" for e in shared if e.kind == kind]

    backstory = "\n".join([card.backstory, "Lived since:", *lines("backstory")] if lines("backstory") else [])
    personality = card.personality
    for kind, title in (("habit", "Habits picked up:"), ("opinion", "Opinions formed:")):
        if lines(kind):
            personality = "\n".join([personality, title, *lines(kind)])
    grown = card.model_copy(
        update={
            "backstory": backstory.strip() if lines("backstory") else card.backstory,
            "personality": personality.strip(),
            "character_version": f"{card.character_version}+soul{version}".lstrip("+"),
        },
        deep=True,
    )
    grown.id = card.id
    return grown
