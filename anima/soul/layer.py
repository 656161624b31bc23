"""The learned layer as prompt lines: this user's relationship first, then habits, opinions, backstory."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from anima.characters.card import CharacterCard
from anima.core.messages import Incoming
from anima.errors import MemoryStoreError
from anima.soul.changes import Entry
from anima.soul.store import SoulStore

log = logging.getLogger(__name__)

ORDER = ("relationship", "habit", "opinion", "backstory")  # what gives way last comes first
LABEL = {"habit": "habit", "opinion": "opinion", "backstory": "lived"}


def layer_lines(entries: Sequence[Entry], user_name: str) -> list[str]:
    """Best first (the prompt keeps lines in this order until the layer's budget is spent):
    within a kind the newest line leads, since recent growth is what the card cannot know."""
    lines = []
    for kind in ORDER:
        for entry in sorted((e for e in entries if e.kind == kind), key=lambda e: -e.origin_id):
            label = f"with {user_name}" if kind == "relationship" else LABEL[kind]
            lines.append(f"- ({label}) {entry.text}")
    return lines


class LearnedLayer:
    """The pipeline's prompt layer for what the character learned (anima.app registers it)."""

    def __init__(self, soul: SoulStore) -> None:
        self.soul = soul

    async def lines(self, card: CharacterCard, message: Incoming) -> list[str]:
        """The learned lines this user may see (cached: no query while unchanged): in a group, their
        relationship lines only if they were marked shareable (`anima memory share`); a database
        failure costs the layer, never the reply."""
        if not card.growth.tokens:
            return []
        try:
            entries = await self.soul.layer(card.id, message.platform, message.user_id)
            memory = self.soul.memory
            for platform, user_id in await memory.linked_for(
                message.platform, message.user_id, message.is_private
            ):
                # what is between the character and this person, learned on their linked accounts
                linked = await self.soul.layer(card.id, platform, user_id)
                entries = [*entries, *(e for e in linked if not e.shared)]
            if not message.is_private:
                entries = await self._fit_for_a_group(entries, message)
        except MemoryStoreError as exc:
            log.warning("the learned layer could not be read, answering with the card alone: %s", exc)
            return []
        return layer_lines(entries, message.display_name)

    async def _fit_for_a_group(self, entries: list[Entry], message: Incoming) -> list[Entry]:
        """What was learned in a private chat stays out of groups unless its person shares it
        (`anima memory share`): the relationship with this person, and shared growth that came
        from anyone's private chat."""
        sharing: dict[tuple[str, str], bool] = {}

        async def shares(platform: str, user_id: str) -> bool:
            if (platform, user_id) not in sharing:
                sharing[platform, user_id] = await self.soul.memory.shares_private(platform, user_id)
            return sharing[platform, user_id]

        fit = []
        for entry in entries:
            if not entry.shared:
                whose = (message.platform, message.user_id)
            elif entry.learned_in_private:
                whose = (entry.source_platform, entry.source_user_id)
            else:
                fit.append(entry)
                continue
            if await shares(*whose):
                fit.append(entry)
        return fit
