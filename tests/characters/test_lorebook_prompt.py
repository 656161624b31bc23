"""Triggered lorebook entries in the prompt: where they go, their token budget, the window's guarantees."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from anima.characters.card import CharacterCard, Lorebook, LorebookEntry
from anima.core.messages import ChatMessage
from anima.core.prompt import PromptBuilder
from anima.core.untrusted import LORE_NOTE, fence
from tests.test_prompt_budget import COUNTER, prompt_tokens

PERSONA = "{{char}} is a warm illustrator who loves tea."
RULE = "Never claim to be an AI."


def card_with(*entries: LorebookEntry, **book: Any) -> CharacterCard:
    card = CharacterCard(
        name="Aiko",
        description=PERSONA,
        rules=[RULE],
        greeting=["Hi!"],
        lorebook=Lorebook(entries=list(entries), **book),
    )
    card.id = "aiko"
    return card


async def build(
    card: CharacterCard, history: list[str], newest: str, window: int = 4096
) -> list[ChatMessage]:
    turns = [ChatMessage("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(history)]
    prompt = await PromptBuilder(COUNTER).build(card, "Lin", turns, newest, window, 200)
    return prompt.messages


async def test_before_and_after_entries_frame_the_persona_in_the_system_message() -> None:
    card = card_with(
        LorebookEntry(keys=["tea"], content="Before: {{char}} grows her own tea.", position="before_char"),
        LorebookEntry(keys=["tea"], content="After: tea is sacred.", position="after_char"),
    )
    system = (await build(card, [], "do you like tea?"))[0].content
    assert system.index("Before: Aiko grows") < system.index("warm illustrator") < system.index("After: tea")


async def test_an_at_depth_entry_goes_before_the_last_messages() -> None:
    card = card_with(LorebookEntry(keys=["moon"], content="The moon is red.", position="at_depth", depth=1))
    messages = await build(card, ["one", "two"], "look at the moon")
    assert messages[-2:] == [
        ChatMessage("system", fence(["The moon is red."], LORE_NOTE)),
        ChatMessage("user", "look at the moon"),
    ]
    depth_zero = card_with(
        LorebookEntry(keys=["moon"], content="Red.", position="at_depth", depth=0, role="user")
    )
    # quoted as lore, never as a turn of the person's: the role an entry asks for is not given
    assert (await build(depth_zero, [], "moon"))[-1] == ChatMessage("system", fence(["Red."], LORE_NOTE))


async def test_entries_are_placed_by_insertion_order() -> None:
    card = card_with(
        LorebookEntry(keys=["x"], content="second", insertion_order=20),
        LorebookEntry(keys=["x"], content="first", insertion_order=10),
    )
    system = (await build(card, [], "x"))[0].content
    assert system.index("first") < system.index("second")


async def test_the_token_budget_keeps_constants_then_higher_priority() -> None:
    filler = "lore " * 40  # ~40 tokens each
    card = card_with(
        LorebookEntry(keys=["x"], content="LOW " + filler, priority=1),
        LorebookEntry(keys=["x"], content="HIGH " + filler, priority=9),
        LorebookEntry(content="CONST " + filler, constant=True),
        token_budget=100,
    )
    system = (await build(card, [], "x"))[0].content
    assert "CONST" in system and "HIGH" in system and "LOW" not in system


async def test_entries_give_way_to_the_newest_message_in_a_small_window() -> None:
    card = card_with(LorebookEntry(content="lore " * 600, constant=True), token_budget=5000)
    newest = "please remember this whole sentence " * 10
    messages = await build(card, [], newest, window=700)
    assert messages[-1] == ChatMessage("user", newest)
    assert "lore" not in messages[0].content


async def test_a_card_linking_no_lorebook_builds_the_same_prompt_as_before() -> None:
    plain = CharacterCard(name="Aiko", description=PERSONA, rules=[RULE], greeting=["Hi!"])
    plain.id = "aiko"
    with_empty = card_with()
    assert await build(plain, ["a", "b"], "c") == await build(with_empty, ["a", "b"], "c")


words = st.sampled_from(["tea", "moon", "cat", "rain", "book", "sea", "你好", "🙂", "the", "and"])
texts = st.lists(words, min_size=1, max_size=40).map(" ".join)
entries = st.builds(
    LorebookEntry,
    keys=st.lists(words, max_size=2),
    content=texts,
    constant=st.booleans(),
    position=st.sampled_from(["before_char", "after_char", "at_depth"]),
    depth=st.integers(0, 6),
    role=st.sampled_from(["system", "user", "assistant"]),
    priority=st.integers(0, 5),
    insertion_order=st.integers(0, 200),
)


@settings(max_examples=60, deadline=None)
@given(
    lore=st.lists(entries, max_size=12),
    budget=st.none() | st.integers(0, 400),
    history=st.lists(texts, max_size=12),
    newest=texts,
    context=st.integers(300, 1200),
    max_tokens=st.integers(16, 200),
)
async def test_a_prompt_with_lorebook_entries_still_fits_and_keeps_persona_rules_and_the_newest_message(
    lore: list[LorebookEntry],
    budget: int | None,
    history: list[str],
    newest: str,
    context: int,
    max_tokens: int,
) -> None:
    card = card_with(*lore, token_budget=budget, recursive_scanning=True)
    turns = [ChatMessage("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(history)]
    prompt = await PromptBuilder(COUNTER).build(card, "Lin", turns, newest, context, max_tokens)

    assert await prompt_tokens(prompt.messages) <= context - max_tokens
    assert prompt.tokens == await prompt_tokens(prompt.messages)
    system = prompt.messages[0].content
    assert "warm illustrator" in system and RULE in system
    assert ChatMessage("user", newest) in prompt.messages
