"""Personas: where a platform lets the bot post under another name and picture (Discord's channel
webhooks), each character other than the bot's own speaks through one. Which personas a place has
is decided here, once: one shared by the characters without a picture ("Anima"), one per character
with a picture ("Anima aiko", made with it: a message can only name a picture by URL), each made
on first use and then reused, listed once per place and forgotten when the platform lost it. The
platform only says where a chat's personas live, lists the bot's there and makes one.

Where a character has no persona, the bot speaks for it with its name in bold first (`naming`), and
a person replying to such a message, or to a persona's, is answered by that character (`replied`)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Hashable
from typing import ClassVar, Generic, TypeVar

from anima.characters.library import CharacterLibrary
from anima.core.addressing import known
from anima.core.recent import Recent
from anima.core.sending import Fallback, speaking

log = logging.getLogger(__name__)

SHARED = "Anima"  # the persona of every character without a picture of its own
MAX_HOMES = 1_000  # places whose personas are remembered (the most recently used)
H = TypeVar("H", bound=Hashable)  # where personas live (a Discord channel; a thread uses its parent's)
P = TypeVar("P")  # one persona as the platform has it (a webhook)
S = TypeVar("S")  # one identity a character speaks with: the bot, the bot naming it, a persona
NAMED = re.compile(r"^\*\*(.+?)\*\*: ")  # how the bot writes for a character without a persona
AvatarBytes = Callable[[], bytes | None]  # a card's avatar image, read only to make its persona


def naming(name: str, escape: Callable[[str], str]) -> str:
    """What the bot writes first when it speaks for `name`, a character other than its own
    (`escape`: the platform's, so that the name shows as written)."""
    return f"**{escape(name)}**: "


def replied(characters: CharacterLibrary, own: str, text: str, persona: str | None) -> str | None:
    """Who wrote the message a person replies to, one of the bot's: the `persona`'s character, by
    the name it posted under (None: no card has it now), else the one the bot named first in its
    `text`, else the bot's `own`."""
    if persona is not None:
        return known(characters, persona)
    named = NAMED.match(text)
    return known(characters, named and named.group(1)) or own


async def speaker(
    characters: CharacterLibrary,
    card_id: str,
    own: str,
    as_bot: Callable[[str | None], S],
    persona: Callable[[str, str, AvatarBytes], Awaitable[S | None]] | None,
    refused: Callable[[BaseException], bool],
) -> Fallback[S]:
    """Who `card_id` speaks as in a chat (anima.core.sending.speaking): the bot's `own` character as
    the bot; another through its `persona(card id, name, picture)` where there is one (the platform
    may offer none: `persona` None), else as the bot naming it."""
    card = characters.get(card_id)
    found = (
        None if persona is None else await persona(card.id, card.name, lambda: characters.avatar_image(card))
    )
    return speaking(card_id == own, card.name, as_bot, found, refused)


def is_persona_name(name: str) -> bool:
    """Whether `name` is one the bot gives its personas: the shared one, or a character's."""
    return name == SHARED or name.startswith(SHARED + " ")


class Personas(Generic[H, P]):
    """The bot's personas in each place. `refusals`: the platform's errors for a refused request
    (then the bot speaks for the character); `max_name`: its limit on a persona's name."""

    refusals: ClassVar[tuple[type[BaseException], ...]] = ()
    max_name: ClassVar[int] = 80

    def __init__(self) -> None:
        self._by_home: Recent[H, dict[str, P]] = Recent(MAX_HOMES)  # by name
        self._locks: Recent[H, asyncio.Lock] = Recent(MAX_HOMES)  # two replies at once make one persona

    # -- what a platform gives ---------------------------------------------------------------

    def home(self, chat: object) -> H | None:
        """Where `chat`'s personas live; None where the bot may have none (a DM, no permission)."""
        raise NotImplementedError

    async def listed(self, home: H) -> dict[str, P]:
        """The bot's own personas in `home`, by name (only names `is_persona_name` accepts)."""
        raise NotImplementedError

    async def create(self, home: H, name: str, picture: bytes | None) -> P:
        """A new persona; raises one of `refusals`, or ValueError when `picture` is no image."""
        raise NotImplementedError

    # -- written once ----------------------------------------------------------------------

    async def of(self, chat: object, card_id: str, picture: AvatarBytes) -> P | None:
        """The persona `card_id` speaks through in `chat`: its own when it has a `picture` (read only
        to make one), else the shared one; made when missing. None when there is none to be had."""
        home = self.home(chat)
        if home is None:
            return None
        async with self._locks.setdefault(home, asyncio.Lock()):
            try:
                ours = await self._ours(home)
                own = f"{SHARED} {card_id}"[: self.max_name]
                not_made: tuple[type[BaseException], ...] = (*self.refusals, ValueError)
                if own not in ours and (image := picture()) is not None:
                    try:
                        ours[own] = await self.create(home, own, image)
                    except not_made as exc:
                        log.warning("no persona with %s's picture in %s: %s", card_id, chat, exc)
                if own in ours:
                    return ours[own]
                if SHARED not in ours:
                    ours[SHARED] = await self.create(home, SHARED, None)
                return ours[SHARED]
            except self.refusals as exc:
                log.warning("no persona in %s (%s); the bot speaks", chat, type(exc).__name__)
                return None

    async def all(self, chat: object) -> list[P]:
        """The bot's personas where `chat`'s live (listed once; a refusal to list them is raised)."""
        home = self.home(chat)
        if home is None:
            return []
        async with self._locks.setdefault(home, asyncio.Lock()):
            return list((await self._ours(home)).values())

    def forget(self, chat: object) -> None:
        """Drop what is known of `chat`'s personas (one stopped working): listed again next time."""
        home = self.home(chat)
        if home is not None:
            self._by_home.pop(home, None)

    async def _ours(self, home: H) -> dict[str, P]:
        if home not in self._by_home:  # listed once, under the place's lock
            self._by_home[home] = await self.listed(home)
        return self._by_home[home]
