"""Personas: where a platform lets the bot post under another name and picture (Discord's channel
webhooks), each character other than the bot's own speaks through one. Which personas a place has
is decided here, once: one shared by the characters without a picture ("Anima"), one per character
with a picture ("Anima aiko", made with it: a message can only name a picture by URL), each made
on first use and then reused, listed once per place and forgotten when the platform lost it. The
platform only says where a chat's personas live, lists the bot's there and makes one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import ClassVar, Generic, TypeVar

from anima.core.recent import Recent

log = logging.getLogger(__name__)

SHARED = "Anima"  # the persona of every character without a picture of its own
MAX_HOMES = 1_000  # places whose personas are remembered (the most recently used)
H = TypeVar("H", bound=Hashable)  # where personas live (a Discord channel; a thread uses its parent's)
P = TypeVar("P")  # one persona as the platform has it (a webhook)


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

    async def of(self, chat: object, card_id: str, picture: Callable[[], bytes | None]) -> P | None:
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
