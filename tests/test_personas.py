"""Which personas a place has (anima.core.personas), on an in-memory platform: one shared by the
characters without a picture, one per character with one, made once and reused, listed once per
place and again after it was forgotten; a refusal leaves the bot to speak. And who speaks: the
bot's own character as the bot, another through its persona, else the bot naming it; a reply to
any of these is for the character it named."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anima.characters.library import CharacterLibrary
from anima.core.personas import MAX_HOMES, SHARED, Personas, is_persona_name, naming, replied, speaker

CHARACTERS = CharacterLibrary.load(Path(__file__).parent.parent / "characters")


class Refused(Exception):
    """The platform's refusal of a request."""


@dataclass
class Persona:
    name: str
    picture: bytes | None


@dataclass
class Places(Personas[str, Persona]):
    """Places by name; "dm" has no personas; the bot's personas as the platform keeps them."""

    kept: dict[str, list[Persona]] = field(default_factory=dict)
    listings: list[str] = field(default_factory=list)
    refuse: bool = False

    refusals = (Refused,)

    def __post_init__(self) -> None:
        super().__init__()

    def home(self, chat: object) -> str | None:
        return None if chat == "dm" else str(chat).split("/")[0]  # "general/thread" lives in "general"

    async def listed(self, home: str) -> dict[str, Persona]:
        self.listings.append(home)
        await asyncio.sleep(0)
        if self.refuse:
            raise Refused("no permission")
        return {p.name: p for p in self.kept.get(home, []) if is_persona_name(p.name)}

    async def create(self, home: str, name: str, picture: bytes | None) -> Persona:
        await asyncio.sleep(0)  # another reply may come meanwhile
        if picture == b"not an image":
            raise ValueError("not an image")
        made = Persona(name, picture)
        self.kept.setdefault(home, []).append(made)
        return made


def no_picture() -> bytes | None:
    return None


async def test_characters_without_a_picture_share_one_persona_made_once() -> None:
    places = Places()
    grimble = await places.of("general", "grimble", no_picture)
    again = await places.of("general/thread", "grimble", no_picture)
    mira = await places.of("general", "mira", no_picture)

    assert grimble is again is mira and grimble is not None and grimble.name == SHARED
    assert places.kept["general"] == [grimble] and places.listings == ["general"]


async def test_a_character_with_a_picture_gets_its_own_made_with_it() -> None:
    places, asked = Places(), []

    def picture() -> bytes:
        asked.append("picture")
        return b"PNG"

    first = await places.of("general", "aiko", picture)
    second = await places.of("general", "aiko", picture)

    assert first is second and first == Persona("Anima aiko", b"PNG")
    assert asked == ["picture"]  # read only to make the persona


async def test_a_picture_that_is_no_image_leaves_the_character_the_shared_persona() -> None:
    places = Places()
    found = await places.of("general", "aiko", lambda: b"not an image")
    assert found == Persona(SHARED, None)


async def test_two_replies_at_once_make_one_persona() -> None:
    places = Places()
    found = await asyncio.gather(*(places.of("general", "grimble", no_picture) for _ in range(5)))
    assert len(places.kept["general"]) == 1 and all(f is found[0] for f in found)


async def test_personas_made_before_a_restart_are_reused_and_others_names_ignored() -> None:
    places = Places(kept={"general": [Persona("Zapier", None), Persona(SHARED, None)]})
    found = await places.of("general", "grimble", no_picture)
    assert found is places.kept["general"][1] and len(places.kept["general"]) == 2


async def test_a_forgotten_place_is_listed_again_and_a_lost_persona_made_again() -> None:
    places = Places()
    first = await places.of("general", "grimble", no_picture)
    places.kept["general"].clear()  # an admin deleted it
    places.forget("general/thread")

    second = await places.of("general", "grimble", no_picture)
    assert second is not first and places.listings == ["general", "general"]


async def test_where_personas_are_refused_or_impossible_the_bot_speaks() -> None:
    refused = Places(refuse=True)
    assert await refused.of("general", "grimble", no_picture) is None
    with pytest.raises(Refused):
        await refused.all("general")  # whether a message was a persona's cannot be told

    places = Places()
    assert await places.of("dm", "grimble", no_picture) is None and await places.all("dm") == []
    assert places.listings == []


async def test_only_the_places_used_last_are_remembered() -> None:
    places = Places()
    for place in range(MAX_HOMES + 1):
        await places.all(f"channel{place}")
    await places.all(f"channel{MAX_HOMES}")  # the newest: remembered
    await places.all("channel0")  # the oldest: listed again
    assert places.listings[-1:] == ["channel0"] and len(places.listings) == MAX_HOMES + 2


def not_refused(exc: BaseException) -> bool:
    return False


async def test_the_bots_own_character_speaks_as_the_bot_and_another_through_its_persona() -> None:
    places = Places()

    async def persona(card_id: str, name: str, picture: object) -> str | None:
        found = await places.of("general", card_id, no_picture)
        return f"{found.name} as {name}" if found else None

    def as_bot(name: str | None) -> str:
        return "the bot" + (f" naming {name}" if name else "")

    own = await speaker(CHARACTERS, "aiko", "aiko", as_bot, persona, not_refused)
    other = await speaker(CHARACTERS, "grimble", "aiko", as_bot, persona, not_refused)
    nowhere = await speaker(CHARACTERS, "grimble", "aiko", as_bot, None, not_refused)

    assert (own.sender, own.fallback) == ("the bot", None)
    assert (other.sender, other.fallback) == ("Anima as Grimble", "the bot naming Grimble")
    assert (nowhere.sender, nowhere.fallback) == ("the bot naming Grimble", None)


async def test_a_reply_to_the_bot_naming_a_character_or_to_its_persona_is_for_that_character() -> None:
    named = naming("Grimble", lambda name: name) + "Rumours abound."

    assert named == "**Grimble**: Rumours abound."
    assert replied(CHARACTERS, "aiko", named, None) == "grimble"
    assert replied(CHARACTERS, "aiko", "Hello!", None) == "aiko"  # the bot as itself
    assert replied(CHARACTERS, "aiko", "**Nobody**: hi", None) == "aiko"  # no such card: the bot's own
    assert replied(CHARACTERS, "aiko", "Rumours abound.", "Grimble") == "grimble"
    assert replied(CHARACTERS, "aiko", "hi", "Zapier") is None  # a persona no card has now
