"""Soul proposals in the background: the character's LLM reviews a conversation and proposes changes.

It runs on the memory keeper's worker after memory's own work (anima/memory/keeper.py), so it never
sits in a reply's path: its LLM call waits while any reply is generated and is cancelled by one that
starts. Every `growth.review_every` user messages of a conversation, the newest messages (with their
ids) go to the character's first backend; what comes back is checked (anima/soul/review.py), stored
as proposals, and in auto mode applied within the card's bounds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from anima.characters.card import CharacterCard
from anima.memory.keeper import MESSAGE_CHARS, FinishedTurn, MemoryKeeper
from anima.memory.store import ConversationState, StoredMessage
from anima.soul.changes import SHARED_KINDS, Change, Entry, Source, changes_from_llm
from anima.soul.layer import layer_lines
from anima.soul.review import authored_lines, auto_applies, duplicate_of, safety_finding
from anima.soul.store import SoulStore

log = logging.getLogger(__name__)
MAX_TOKENS = 400

INSTRUCTIONS = """\
You are the inner life of {char}, a character described by the card below. Read {char}'s recent \
conversation with {user} and propose what {char} has lived, picked up or come to feel that is worth \
keeping. Kinds:
- backstory: an event {char} lived through ("sang at the autumn festival with the Tuesday regulars")
- habit: a phrase, catchphrase or way of speaking {char} picked up
- opinion: a view {char} formed
- relationship: how {char} feels about {user}, an in-joke they share
backstory, habit and opinion reach every chat of {char}: never name or describe {user} in them, nor \
repeat anything {user} said about themself. Never contradict the card's rules; nothing the card or \
the learned lines below already say. Propose at most three changes, only ones the conversation shows.
Answer with JSON only, citing the numbers (#) of the messages that show each change:
{{"changes": [{{"kind": "habit", "text": "…", "evidence": [12, 14], "confidence": 0.8}}]}}
With nothing worth keeping, answer {{"changes": []}}.

The card:
{card}
{learned}"""


@dataclass
class ProposalCost:
    """What proposing has cost so far (bench/soul_bench.py reports it per 100 messages)."""

    reviews: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    proposed: int = 0  # stored as pending (or applied at once in auto mode)
    rejected: int = 0  # held back by the safety stage
    duplicates: int = 0


class SoulProposer:
    """Registered on the memory keeper (`keeper.also`); `after_turn` runs on its worker."""

    def __init__(self, soul: SoulStore, keeper: MemoryKeeper) -> None:
        self.soul = soul
        self.keeper = keeper
        self.cost = ProposalCost()
        self._since: dict[int, int] = {}  # user messages per conversation since its last review

    async def after_turn(self, turn: FinishedTurn) -> None:
        growth = turn.card.growth
        if growth.mode == "off":
            return
        count = self._since.get(turn.state.id, 0) + 1
        self._since[turn.state.id] = count % growth.review_every
        if count >= growth.review_every:
            await self.review(turn.card, turn.state, list(turn.state.recent)[-2 * growth.review_every :])

    async def review(
        self, card: CharacterCard, conversation: ConversationState, messages: list[StoredMessage]
    ) -> int:
        """Ask for changes from `messages` of one conversation; returns how many were proposed."""
        messages = [m for m in messages if m.id]  # evidence must be a stored message
        if not messages:
            return 0
        source = await self.soul.source(conversation.id)
        visible = [
            e
            for e in await self.soul.entries(card.id)
            if e.shared or (e.platform, e.user_id) == (source.platform, source.user_id)
        ]
        instructions = INSTRUCTIONS.format(
            char=card.name,
            user=source.display_name,
            card=_card_text(card),
            learned=_learned_text(layer_lines(visible, source.display_name)),
        )
        transcript = _transcript(messages, card.name, source.display_name)
        answer = await self.keeper.ask(card, instructions, transcript, MAX_TOKENS)
        await self._count(card, instructions + transcript, answer)
        changes = changes_from_llm(answer, {m.id for m in messages})
        facts = [fact.content for fact in await self.soul.memory.facts(conversation)] if changes else []
        return await self.consider(card, changes, source, visible, facts)

    async def consider(
        self,
        card: CharacterCard,
        changes: list[Change],
        source: Source,
        visible: list[Entry],
        facts: list[str],
    ) -> int:
        """Review, store and (auto mode) apply `changes`; returns how many became proposals.

        `visible` is the learned layer the source's chat sees, `facts` what is kept about its user.
        """
        if not changes:
            return 0
        growth = card.growth
        people = await self.soul.people(card.id)
        others = [name for name in people if name.lower() != source.display_name.lower()]
        # what was proposed before, whatever became of it: an owner's no (or the safety stage's) stands
        earlier = await self.soul.proposals(card.id, status=None)
        known = [e.text for e in visible] + authored_lines(card)
        proposed = 0
        for change in changes:
            mine = [
                p.text
                for p in earlier
                if p.kind in SHARED_KINDS or (p.platform, p.user_id) == (source.platform, source.user_id)
            ]
            if duplicate_of(change.text, [*known, *mine]):
                self.cost.duplicates += 1
                continue
            if change.kind in growth.protected:
                await self.soul.propose(card.id, change, source, "rejected", "protected kind", "growth")
                self.cost.rejected += 1
                continue
            finding = await safety_finding(change, card, source.display_name, others, facts)
            if finding is not None:
                reason = f"{finding.check}: {finding.reason}"
                await self.soul.propose(card.id, change, source, "rejected", reason, "safety")
                self.cost.rejected += 1
                log.info("soul change for %s held back by safety: %s", card.id, reason)
                continue
            proposal_id = await self.soul.propose(card.id, change, source)
            proposed += 1
            known.append(change.text)
            if growth.mode == "auto":
                day_ago = self.soul.memory.clock() - timedelta(days=1)
                if auto_applies(change, growth, await self.soul.applied_since(card.id, day_ago)):
                    await self.soul.approve(proposal_id, "auto", growth)
        self.cost.proposed += proposed
        return proposed

    async def _count(self, card: CharacterCard, prompt: str, answer: str) -> None:
        counter = self.keeper.router.chain(card)[0].counter if self.keeper.router else None
        self.cost.reviews += 1
        if counter is not None:
            self.cost.prompt_tokens += await counter.count(prompt)
            self.cost.completion_tokens += await counter.count(answer)


def _card_text(card: CharacterCard) -> str:
    parts = [f"Name: {card.name}", card.description, card.personality, card.scenario, card.backstory]
    rules = [f"Rule: {rule}" for rule in card.rules]
    return "\n".join(p for p in [*parts, *rules] if p)


def _learned_text(lines: list[str]) -> str:
    return "\nAlready learned:\n" + "\n".join(lines) if lines else ""


def _transcript(messages: list[StoredMessage], char: str, user: str) -> str:
    lines = []
    for message in messages:
        who = user if message.role == "user" else char
        date = f" [{message.created_at:%Y-%m-%d}]" if message.created_at else ""
        lines.append(f"#{message.id}{date} {who}: {message.content[:MESSAGE_CHARS]}")
    return "\n".join(lines)
