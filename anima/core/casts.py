"""Casts: several characters on one stage (config `casts`), the same on every platform.

A cast is a group chat whose members (characters) take turns. After each line, a person's or a
member's, the cast's strategy (SillyTavern's group strategies) names who speaks next, or nobody:
`natural` (who is addressed, then each by its talkativeness), `list` (each in order), `pooled`
(each once before anyone repeats) and `manual` (only who is addressed). At most `max_bot_turns`
member lines follow one another before a person must speak. The stage keeps what each member
said, since a platform may never show one bot what another said (Telegram). The conversation
service plays the scene (anima/core/conversations.py); an adapter only says how it speaks as a
member in a chat (`Casts.speaks`).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from anima.characters.card import CharacterCard
from anima.characters.library import CharacterLibrary
from anima.config import CastSettings
from anima.core.proactive import quiet_until
from anima.core.recent import Recent
from anima.core.surface import Surface
from anima.errors import AnimaError

MAX_LINES = 20  # the stage's recent lines each member reads
MAX_LINE_CHARS = 300
MAX_HEARD = 2_000  # message ids remembered per stage: several bots of a cast receive one message

# How an adapter speaks as a member: from the surface a message came on and the member's card id,
# a surface of the same chat that speaks as that member, or None when it cannot.
MemberSurface = Callable[[Surface, str], Surface | None]
Quiet = Callable[[CharacterCard], bool]  # whether it is the character's quiet hours now


@dataclass(frozen=True)
class Line:
    speaker: str  # the name shown for it
    text: str
    member: str | None = None  # the card id, when a member said it


class Stage:
    """One cast in one chat: its recent lines, who spoke since a person did, one scene at a time."""

    def __init__(self, cast: CastSettings, rng: random.Random, quiet: Quiet = lambda card: False) -> None:
        self.cast = cast
        self.rng = rng
        self.quiet = quiet
        self.lines: deque[Line] = deque(maxlen=MAX_LINES)
        self.bot_turns = 0  # member lines since a person last spoke
        self.spoken: list[str] = []  # members who spoke since a person last did, in order
        self.pool: set[str] = set()  # `pooled`: who spoke in this round
        self.greeted = False
        self.lock = asyncio.Lock()  # one scene at a time
        self._heard: Recent[str, None] = Recent(MAX_HEARD)

    @property
    def last_member(self) -> str | None:
        return self.spoken[-1] if self.spoken else None

    def first_hearing(self, message_id: str | None) -> bool:
        """False when this message was heard already (another bot of the cast received it too)."""
        return message_id is None or self._heard.first_time(message_id)

    def heard(self, speaker: str, text: str, from_bot: bool = False) -> None:
        """A person spoke: the members may speak again. Another bot's line is one more bot turn."""
        self._add(Line(speaker, text))
        if from_bot:
            self.bot_turns += 1
            return
        self.bot_turns = 0
        self.spoken = []

    def said(self, member: str, speaker: str, text: str) -> None:
        self._add(Line(speaker, text, member))
        self.bot_turns += 1
        self.spoken.append(member)
        self.pool.add(member)
        if self.pool >= set(self.cast.members):
            self.pool = set()

    def context(self) -> str:
        """The recent lines before the one being answered (the last), one per line."""
        return "\n".join(f"{line.speaker}: {line.text}" for line in list(self.lines)[:-1])

    def next_speaker(
        self, members: Sequence[CharacterCard], text: str, called: str | None = None
    ) -> str | None:
        """Who answers the last line (`text`; `called`: the member the platform says it is for, an
        @mention or a reply), or None: the members wait for a person."""
        if self.bot_turns >= self.cast.max_bot_turns:
            return None
        here = [card for card in members if card.id != self.last_member]  # nobody answers itself
        if self.bot_turns:  # in its quiet hours a member answers people, never starts a chat of bots
            here = [card for card in here if not self.quiet(card)]
        named = [card.id for card in here if card.id == called] + _named(here, text)
        return STRATEGIES[self.cast.strategy](self, here, named)

    def _add(self, line: Line) -> None:
        text = " ".join(line.text.split())
        if len(text) > MAX_LINE_CHARS:
            text = text[: MAX_LINE_CHARS - 1] + "…"
        self.lines.append(Line(line.speaker, text, line.member))


def _natural(stage: Stage, here: list[CharacterCard], named: list[str]) -> str | None:
    """Who is addressed; else each (in random order) speaks up by its talkativeness; after a person,
    when none did, the most talkative answers."""
    if named:
        return named[0]
    for card in stage.rng.sample(here, len(here)):
        if stage.rng.random() < card.speaks_up:
            return card.id
    if stage.bot_turns == 0 and here:
        return max(here, key=lambda card: card.speaks_up).id
    return None


def _list(stage: Stage, here: list[CharacterCard], named: list[str]) -> str | None:
    """Each member once after a person, in the cast's order."""
    return next((card.id for card in here if card.id not in stage.spoken), None)


def _pooled(stage: Stage, here: list[CharacterCard], named: list[str]) -> str | None:
    """One member answers a person: who is addressed, else one who has not spoken in this round;
    another member speaks after it only when addressed."""
    if named:
        return named[0]
    if stage.bot_turns or not here:
        return None
    fresh = [card for card in here if card.id not in stage.pool] or here
    return stage.rng.choice(fresh).id


def _manual(stage: Stage, here: list[CharacterCard], named: list[str]) -> str | None:
    """Only who is addressed."""
    return named[0] if named else None


STRATEGIES: dict[str, Callable[[Stage, list[CharacterCard], list[str]], str | None]] = {
    "natural": _natural,
    "list": _list,
    "pooled": _pooled,
    "manual": _manual,
}


def _named(cards: Sequence[CharacterCard], text: str) -> list[str]:
    """The members a line names (by id, name or nickname, as a word; "@grimble_bot" names grimble),
    in the order the line names them."""
    found: list[tuple[int, str]] = []
    for card in cards:
        names = {n for n in (card.id, card.name, card.nickname) if n}
        pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        match = re.search(rf"(?<![^\W_])(?:{pattern})(?![^\W_])", text, re.IGNORECASE)
        if match:
            found.append((match.start(), card.id))
    return [card_id for _, card_id in sorted(found)]


def quiet_hours_in(zone: tzinfo) -> Quiet:
    """Whether it is a card's quiet hours now in `zone`: its `proactive.quiet_hours`, the same
    hours in which it never writes first."""
    return lambda card: quiet_until(datetime.now(zone), card.proactive.quiet) is not None


class Casts:
    """The configured casts, their stages (in memory, per process), and how adapters speak as members."""

    def __init__(
        self,
        casts: Sequence[CastSettings],
        characters: CharacterLibrary,
        rng: random.Random | None = None,
        quiet: Quiet = lambda card: False,
    ) -> None:
        self._casts = {(cast.platform, cast.chat_id): cast for cast in casts}
        self._characters = characters
        self._rng = rng or random.Random()
        self._quiet = quiet
        self._stages: dict[tuple[str, str], Stage] = {}
        self._voices: list[tuple[str, str | None, MemberSurface]] = []

    def stage(self, platform: str, chat_id: str) -> Stage | None:
        """The stage of the cast playing in this chat, None when no cast does."""
        cast = self._casts.get((platform, chat_id))
        if cast is None:
            return None
        stage = self._stages.get((platform, chat_id))
        if stage is None:
            stage = self._stages[(platform, chat_id)] = Stage(cast, self._rng, self._quiet)
        return stage

    def speaks(self, platform: str, card_id: str | None, voice: MemberSurface) -> Callable[[], None]:
        """Register how an adapter speaks as `card_id` (None: as any character, e.g. Discord's
        webhook personas) on `platform`; returns what unregisters it (when the adapter stops)."""
        entry = (platform, card_id, voice)
        self._voices.append(entry)
        return lambda: self._voices.remove(entry) if entry in self._voices else None

    def voices(self, stage: Stage, heard: Surface) -> dict[str, Surface]:
        """The members that can speak in the chat `heard` is in, each with the surface it speaks
        through: an adapter serving that very character first, then one speaking as anyone."""
        found: dict[str, Surface] = {}
        for member in stage.cast.members:
            for only in (member, None):
                for platform, card_id, voice in self._voices:
                    if member in found or platform != stage.cast.platform or card_id != only:
                        continue
                    surface = voice(heard, member)
                    if surface is not None:
                        found[member] = surface
        return found

    def members(self, stage: Stage, voiced: Sequence[str]) -> list[CharacterCard]:
        """The cards of the members that can speak, in the cast's order (a card removed since is left out)."""
        cards = []
        for member in stage.cast.members:
            if member in voiced:
                try:
                    cards.append(self._characters.get(member))
                except AnimaError:
                    continue
        return cards
