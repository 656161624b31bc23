"""What a Telegram chat remembers: the character it talks to (per bot) and voice replies (per person)."""

from __future__ import annotations

import asyncio
import logging

from anima.app import Runtime
from anima.bots.telegram.translate import PLATFORM
from anima.characters.card import CharacterCard
from anima.errors import AnimaError

log = logging.getLogger(__name__)

VOICE_KEY = "voice"  # per chat × person: True when they want voice replies
# Every message needs the sender's voice choice: it is cached, and re-read after this long so a choice
# changed elsewhere (another bot in the same chat, the command line) is seen soon.
VOICE_CACHE_S = 60.0
MAX_CACHED = 50_000


class ChatSettings:
    """Stored with the memory's preferences; the chat → character map is cached (only we write it)."""

    def __init__(self, runtime: Runtime, bot_id: int, default_character: str) -> None:
        self.runtime = runtime
        # Several bots can share a private chat id (it is the person's id), so the key names the bot.
        self.character_key = f"character:{bot_id}"
        self.default_character = default_character
        self._characters: dict[int, str] = {}
        self._voice: dict[tuple[int, int], tuple[bool, float]] = {}  # (chat, person) -> (on, until)

    async def character(self, chat_id: int) -> CharacterCard:
        card_id = self._characters.get(chat_id)
        if card_id is None:
            stored = await self.runtime.memory.get_preference(PLATFORM, str(chat_id), self.character_key)
            card_id = stored or self.default_character
            if len(self._characters) > MAX_CACHED:
                self._characters.clear()
            self._characters[chat_id] = card_id
        try:
            return self.runtime.characters.get(card_id)
        except AnimaError:  # the card was removed since the chat chose it
            log.warning("chat %s chose character %r, which is gone; using the default", chat_id, card_id)
            return self.runtime.characters.get(self.default_character)

    async def set_character(self, chat_id: int, card_id: str | None) -> None:
        """Bind the chat to a card; None goes back to the bot's default."""
        await self.runtime.memory.set_preference(PLATFORM, str(chat_id), self.character_key, card_id)
        self._characters[chat_id] = card_id or self.default_character

    async def voice(self, chat_id: int, user_id: int) -> bool:
        """Whether this person wants voice replies in this chat."""
        cached = self._voice.get((chat_id, user_id))
        if cached is not None and cached[1] > asyncio.get_running_loop().time():
            return cached[0]
        stored = await self.runtime.memory.get_preference(PLATFORM, str(chat_id), VOICE_KEY, str(user_id))
        self._cache_voice(chat_id, user_id, bool(stored))
        return bool(stored)

    async def set_voice(self, chat_id: int, user_id: int, on: bool) -> None:
        await self.runtime.memory.set_preference(PLATFORM, str(chat_id), VOICE_KEY, on, str(user_id))
        self._cache_voice(chat_id, user_id, on)

    def forget_user(self, user_id: int) -> None:
        """The person's stored settings were deleted: drop what is cached of them."""
        self._voice = {key: value for key, value in self._voice.items() if key[1] != user_id}

    def _cache_voice(self, chat_id: int, user_id: int, on: bool) -> None:
        if len(self._voice) > MAX_CACHED:
            self._voice.clear()
        self._voice[(chat_id, user_id)] = (on, asyncio.get_running_loop().time() + VOICE_CACHE_S)
