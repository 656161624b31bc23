"""A bot's presence with the core, whatever its platform: the character it serves, the line an
operator reads once it is online."""

from __future__ import annotations

from anima.app import Runtime
from anima.bots.presence import Presence, bot_character
from anima.core.surface import Surface
from tests.fakes.surface import FakeSurface


async def no_chat(chat_id: str, user_id: str, display_name: str, character_id: str) -> Surface | None:
    return None


def as_itself(heard: Surface, card_id: str) -> Surface | None:
    return FakeSurface(chat_id=heard.chat_id, character_id=card_id)


async def test_a_bot_without_its_own_character_serves_the_configured_default(runtime: Runtime) -> None:
    assert bot_character(runtime, None) == runtime.characters.get(runtime.settings.default_character).id
    assert bot_character(runtime, "grimble") == "grimble"


async def test_online_names_the_character_the_account_and_the_platform(runtime: Runtime) -> None:
    presence = Presence(runtime, "test", "Test", "grimble")
    online = presence.arrive("1", "grimble_bot", no_chat, as_itself, "grimble")
    assert online == f"{runtime.characters.get('grimble').name} is online as @grimble_bot on Test"
    presence.leave()
