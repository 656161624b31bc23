"""Macros in card text: names, dates, random picks, idle time, the V2 <USER>/<BOT> spellings."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from anima.app import Runtime
from anima.characters.card import CharacterCard
from anima.characters.macros import expand, idle_duration, unknown_macros
from anima.core.messages import ChatMessage, Incoming
from anima.core.prompt import PromptBuilder
from anima.memory.store import StoredMessage
from tests.test_prompt_budget import COUNTER

NAMES = {"char": "Aiko", "user": "Lin"}
THURSDAY = datetime(2026, 3, 5, 14, 7)


def test_char_and_user_in_any_case_and_the_v2_spellings() -> None:
    assert (
        expand("{{char}} greets {{USER}}; <BOT> smiles at <user>.", NAMES)
        == "Aiko greets Lin; Aiko smiles at Lin."
    )


def test_date_time_and_weekday_come_from_the_clock() -> None:
    assert (
        expand("{{date}}, {{time}}, {{weekday}}", NAMES, now=THURSDAY) == "March 5, 2026, 2:07 PM, Thursday"
    )


def test_random_picks_one_choice_and_an_escaped_comma_stays_a_comma() -> None:
    picks = {
        expand("{{random:tea,coffee\\, black,juice}}", NAMES, rng=random.Random(seed)) for seed in range(40)
    }
    assert picks == {"tea", "coffee, black", "juice"}


def test_idle_duration_says_how_long_since_the_last_message() -> None:
    now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    assert idle_duration(now - timedelta(hours=3, minutes=10), now) == "3 hours"
    assert idle_duration(now - timedelta(seconds=20), now) == "just now"
    assert idle_duration((now - timedelta(days=1)).replace(tzinfo=None), now) == "1 day"  # SQLite's naive UTC


def test_unknown_macros_and_comments() -> None:
    assert expand("{{mood}} stays{{// a note for authors}}.", NAMES) == "{{mood}} stays."
    assert unknown_macros("{{char}} {{mood}} {{random:a,b}} {{// x}} {{pick:a,b}}") == [
        "{{mood}}",
        "{{pick:a,b}}",
    ]


async def test_the_prompt_fills_idle_duration_from_the_last_stored_message() -> None:
    card = CharacterCard(
        name="Aiko", description="It has been {{idle_duration}} since {{user}} wrote.", greeting=["hi"]
    )
    card.id = "aiko"
    last = StoredMessage("user", "bye", created_at=datetime.now(UTC) - timedelta(hours=5, minutes=1))
    prompt = await PromptBuilder(COUNTER).build(card, "Lin", [last], "I'm back", 4096, 200)
    assert "It has been 5 hours since Lin wrote." in prompt.messages[0].content


async def test_a_v3_nickname_is_what_char_means_in_the_prompt() -> None:
    card = CharacterCard(
        name="Mirabel Quill", nickname="Mira", description="{{char}} draws maps.", greeting=["hi"]
    )
    card.id = "mira"
    prompt = await PromptBuilder(COUNTER).build(card, "Lin", [], "hi", 4096, 200)
    assert "Mira draws maps." in prompt.messages[0].content


async def test_an_imported_system_prompt_still_gets_the_persona() -> None:
    card = CharacterCard(
        name="Aiko",
        description="{{char}} loves tea.",
        rules=["Be kind."],
        greeting=["hi"],
        system_prompt="Write {{char}}'s next reply in a chat with {{user}}.",
    )
    card.id = "aiko"
    system = (await PromptBuilder(COUNTER).build(card, "Lin", [], "hi", 4096, 200)).messages[0]
    assert system == ChatMessage(
        "system",
        "Write Aiko's next reply in a chat with Lin.\nAiko loves tea.\nRules you always follow:\n- Be kind.",
    )


async def test_the_greeting_expands_the_v2_spellings(runtime: Runtime) -> None:
    aiko = runtime.characters.get("aiko")
    runtime.characters.cards["aiko"] = aiko.model_copy(update={"greeting": ["Hello <USER>, I am <BOT>."]})
    hello = Incoming(platform="test", chat_id="c", user_id="u", display_name="Lin", text="")
    assert await runtime.pipeline.greet(replace(hello, character_id="aiko")) == "Hello Lin, I am Aiko."
