"""What a chat remembers, on every platform: the character bound to it, voice replies, a persona.

Stored with the memory's preferences and cached: every message reads them, only commands write
them. Entries are re-read after CACHE_S, so a choice made by another process is seen soon.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from anima.characters.card import CharacterCard
from anima.characters.library import CharacterLibrary
from anima.errors import AnimaError
from anima.memory.store import MemoryStore

log = logging.getLogger(__name__)

CACHE_S = 60.0
MAX_CACHED = 50_000
VOICE_KEY = "voice"  # per chat × person: True when they want voice replies
PERSONA_KEY = "persona"  # per person, in no chat ("")
CAST_GREETED_KEY = "cast_greeted"  # per chat: its cast said its greetings there


@dataclass(frozen=True)
class Persona:
    """How a person wants characters to see them (/persona): `{{user}}` is `name`, `description` is told."""

    description: str
    name: str | None = None


class ChatPreferences:
    def __init__(self, memory: MemoryStore, characters: CharacterLibrary) -> None:
        self.memory = memory
        self.characters = characters
        self._cache: dict[tuple[str, str, str, str], tuple[Any, float]] = {}

    async def character(
        self, platform: str, chat_ids: Sequence[str], bot_key: str, default: str
    ) -> CharacterCard:
        """The character bound to the chat (see `bound`), else `default`."""
        return self.characters.get(await self.bound(platform, chat_ids, bot_key) or default)

    async def bound(self, platform: str, chat_ids: Sequence[str], bot_key: str) -> str | None:
        """The id of the character bound to the first of `chat_ids` that has one (a thread, then its
        channel) and still exists. `bot_key` names the bot where several bots share a chat id."""
        for chat_id in chat_ids:
            bound = await self._get(platform, chat_id, _character_key(bot_key))
            if not bound:
                continue
            try:
                return self.characters.get(str(bound)).id
            except AnimaError:  # the card was removed since the chat chose it
                log.warning("chat %s chose character %r, which is gone; using the default", chat_id, bound)
        return None

    async def bind(self, platform: str, chat_id: str, bot_key: str, card_id: str | None) -> None:
        """Bind the chat to a card; None goes back to the bot's default."""
        await self._set(platform, chat_id, _character_key(bot_key), card_id)

    async def voice(self, platform: str, chat_id: str, user_id: str) -> bool:
        return bool(await self._get(platform, chat_id, VOICE_KEY, user_id))

    async def set_voice(self, platform: str, chat_id: str, user_id: str, on: bool) -> None:
        await self._set(platform, chat_id, VOICE_KEY, on, user_id)

    async def cast_greeted(self, platform: str, chat_id: str) -> bool:
        return bool(await self._get(platform, chat_id, CAST_GREETED_KEY))

    async def set_cast_greeted(self, platform: str, chat_id: str) -> None:
        await self._set(platform, chat_id, CAST_GREETED_KEY, True)

    async def persona(self, platform: str, user_id: str) -> Persona | None:
        value = await self._get(platform, "", PERSONA_KEY, user_id)
        return Persona(str(value["description"]), value.get("name")) if isinstance(value, dict) else None

    async def set_persona(self, platform: str, user_id: str, persona: Persona | None) -> None:
        value = None if persona is None else {"description": persona.description, "name": persona.name}
        await self._set(platform, "", PERSONA_KEY, value, user_id)

    def forget_user(self, platform: str, user_id: str) -> None:
        """The person's stored settings were deleted (/forget): drop what is cached of them."""
        for key in [k for k in self._cache if k[0] == platform and k[3] == user_id]:
            del self._cache[key]

    async def _get(self, platform: str, chat_id: str, key: str, user_id: str = "") -> Any:
        cache_key = (platform, chat_id, key, user_id)
        now = asyncio.get_running_loop().time()
        cached = self._cache.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        value = await self.memory.get_preference(platform, chat_id, key, user_id)
        self._remember(cache_key, value, now)
        return value

    async def _set(self, platform: str, chat_id: str, key: str, value: Any, user_id: str = "") -> None:
        await self.memory.set_preference(platform, chat_id, key, value, user_id)
        self._remember((platform, chat_id, key, user_id), value, asyncio.get_running_loop().time())

    def _remember(self, cache_key: tuple[str, str, str, str], value: Any, now: float) -> None:
        if len(self._cache) >= MAX_CACHED:
            del self._cache[next(iter(self._cache))]  # the oldest entry: dicts keep insertion order
        self._cache[cache_key] = (value, now + CACHE_S)


def _character_key(bot_key: str) -> str:
    return f"character:{bot_key}" if bot_key else "character"
