"""Backpressure: a bound on messages waiting to be answered, per conversation and over all of them.

A message over a bound is not stored and not answered by the model: the first one of a burst gets
the character's short "give me a moment" line (card `busy`), with a notice that it was not read,
and the rest of the burst get nothing. Dropping rather than keeping is deliberate: storing it would
put it between a question and its answer in the history (it arrives while that answer is being
written), and keeping it in memory is exactly the growth the bound exists to stop. The person is
told, so they can say it again once the character has caught up. A burst ends when a message of
the conversation is admitted again.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass
from types import TracebackType

from anima.characters.card import CharacterCard
from anima.characters.macros import expand
from anima.config import LimitsSettings
from anima.core.messages import Reply, ReplyStream

NOT_READ = "Too many messages are waiting; this one was not read. Send it again in a moment."
MAX_WARNED = 10_000  # conversations remembered as told; the stalest are forgotten first


@dataclass(frozen=True)
class Refused:
    """Over a bound. `tell`: the first refusal of this conversation's burst, answered with the busy line."""

    tell: bool


class Admitted:
    """A place in the queue, given back when the message has been answered (`async with`).

    An adapter takes one on arrival, before its own per-person queue, and hands it to
    `Pipeline.handle`: the place is given back once, by whichever leaves it first."""

    def __init__(self, admission: Admission, key: Hashable) -> None:
        self._admission = admission
        self._key = key
        self._left = False

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._left:
            self._left = True
            self._admission._leave(self._key)


class Admission:
    """Counts messages admitted and not yet answered; `enter` is synchronous, so arrival order holds."""

    def __init__(self, per_conversation: int, total: int) -> None:
        self.per_conversation = per_conversation  # waiting behind the one being answered
        self.total = total
        self._in_flight: dict[Hashable, int] = {}
        self._count = 0
        self._told: dict[Hashable, None] = {}  # ordered: stalest first
        self.refused = 0  # since start, for benchmarks and metrics

    @classmethod
    def from_settings(cls, limits: LimitsSettings) -> Admission:
        return cls(limits.per_conversation, limits.total)

    def __len__(self) -> int:
        """Messages admitted and not yet answered, over all conversations."""
        return self._count

    def enter(self, key: Hashable) -> Admitted | Refused:
        if self._in_flight.get(key, 0) > self.per_conversation or self._count >= self.total:
            self.refused += 1
            tell = key not in self._told
            if tell:
                self._told[key] = None
                if len(self._told) > MAX_WARNED:
                    del self._told[next(iter(self._told))]
            return Refused(tell)
        self._told.pop(key, None)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        self._count += 1
        return Admitted(self, key)

    def not_told(self, key: Hashable) -> None:
        """A refused message turned out not to be for the character (a group's chatter): the busy
        line is still owed to the next refused one of the burst."""
        self._told.pop(key, None)

    def _leave(self, key: Hashable) -> None:
        self._count -= 1
        self._in_flight[key] -= 1
        if not self._in_flight[key]:
            del self._in_flight[key]


async def answer_refused(
    refused: Refused, card: CharacterCard, user_name: str, stream: ReplyStream
) -> Reply | None:
    """The busy line for the first refusal of a burst; None (no answer at all) for the rest."""
    if not refused.tell:
        return None
    text = expand(random.choice(card.busy), {"char": card.name, "user": user_name})
    reply = Reply(text, card.id, card.name, notices=[NOT_READ])
    await stream.finish(reply)
    return reply
