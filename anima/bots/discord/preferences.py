"""What a Discord bot remembers per channel and per user: bound character, voice, the user's persona."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from anima.memory.store import MemoryStore

PLATFORM = "discord"
CACHE_SIZE = 50_000


@dataclass(frozen=True)
class Persona:
    """How a user wants characters to see them (/persona): `{{user}}` is `name`, `description` is told."""

    description: str
    name: str | None = None


class ChatPreferences:
    """Preferences in the memory store, cached: every message reads them, only commands write them."""

    def __init__(self, memory: MemoryStore) -> None:
        self._memory = memory
        self._cache: dict[tuple[str, str, str], Any] = {}

    async def bound_character(self, chat_ids: Sequence[str]) -> str | None:
        """The character bound to the first of `chat_ids` that has one (a thread, then its channel)."""
        for chat_id in chat_ids:
            if character := await self._get(chat_id, "character"):
                return str(character)
        return None

    async def bind(self, chat_id: str, character_id: str) -> None:
        await self._set(chat_id, "character", character_id)

    async def voice(self, chat_id: str, user_id: str) -> bool:
        """Whether `user_id` wants voice replies in `chat_id` (as on Telegram and in the terminal)."""
        return bool(await self._get(chat_id, "voice", user_id))

    async def set_voice(self, chat_id: str, user_id: str, on: bool) -> None:
        await self._set(chat_id, "voice", on, user_id)

    async def persona(self, user_id: str) -> Persona | None:
        value = await self._get("", "persona", user_id)
        return Persona(**value) if value else None

    async def set_persona(self, user_id: str, persona: Persona | None) -> None:
        value = None if persona is None else {"description": persona.description, "name": persona.name}
        await self._set("", "persona", value, user_id)

    def forget_user(self, user_id: str) -> None:
        """Drop cached values of a user whose rows /forget deleted."""
        for key in [k for k in self._cache if k[2] == user_id]:
            del self._cache[key]

    async def _get(self, chat_id: str, key: str, user_id: str = "") -> Any:
        cache_key = (chat_id, key, user_id)
        if cache_key not in self._cache:
            value = await self._memory.get_preference(PLATFORM, chat_id, key, user_id)
            self._remember(cache_key, value)
        return self._cache[cache_key]

    async def _set(self, chat_id: str, key: str, value: Any, user_id: str = "") -> None:
        await self._memory.set_preference(PLATFORM, chat_id, key, value, user_id)
        self._remember((chat_id, key, user_id), value)

    def _remember(self, cache_key: tuple[str, str, str], value: Any) -> None:
        if len(self._cache) >= CACHE_SIZE:
            del self._cache[next(iter(self._cache))]  # the oldest entry: dicts keep insertion order
        self._cache[cache_key] = value
