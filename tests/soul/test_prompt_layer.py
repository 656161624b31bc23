"""The learned layer in the prompt: after the persona, within its own budget, never at the persona's cost."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima.characters.card import CharacterCard
from anima.core.messages import ChatMessage
from anima.core.prompt import PromptBuilder, TurnContext
from anima.core.tokens import CachedCounter, TiktokenCounter
from anima.errors import PromptTooLarge

COUNTER = CachedCounter(TiktokenCounter())
CARD = CharacterCard(
    name="Aiko",
    description="{{char}} is a warm illustrator who loves tea. " * 8,
    rules=["Never claim to be an AI."],
    greeting=["Hi {{user}}!"],
)
CARD.id = "aiko"
HISTORY = [ChatMessage("user", "How was your day?"), ChatMessage("assistant", "Lovely, thank you!")]
LINES = st.lists(st.text(st.sampled_from("abc tea festival sang "), min_size=1, max_size=120), max_size=12)


async def build(lines: list[str], window: int, soul_tokens: int = 300) -> list[ChatMessage]:
    context = TurnContext(soul=[f"- (lived) {line}" for line in lines], soul_tokens=soul_tokens)
    prompt = await PromptBuilder(COUNTER).build(CARD, "Lin", HISTORY, "And now?", window, 50, context)
    return prompt.messages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=LINES, window=st.integers(150, 700), soul_tokens=st.integers(0, 400))
def test_the_learned_layer_never_pushes_the_persona_or_the_message_out(
    lines: list[str], window: int, soul_tokens: int
) -> None:
    async def check() -> None:
        try:
            alone = await build([], window)
        except PromptTooLarge:
            with pytest.raises(PromptTooLarge):  # the layer never makes a prompt fit that did not
                await build(lines, window, soul_tokens)
            return
        grown = await build(lines, window, soul_tokens)
        assert grown[0] == alone[0]  # the persona, whole and first
        assert grown[-1] == alone[-1]  # the newest message, not cut any further
        learned = [m for m in grown if m.content.startswith("What Aiko has lived")]
        if learned:
            assert grown[1] == learned[0]  # right after the persona
            assert await COUNTER.count(learned[0].content) <= soul_tokens

    asyncio.run(check())


async def test_the_learned_layer_follows_the_persona_when_there_is_room() -> None:
    messages = await build(["sang at the autumn festival"], 4096)
    assert messages[1].content.endswith("- (lived) sang at the autumn festival")


async def test_lines_past_the_layer_budget_are_left_out_best_first_kept() -> None:
    lines = [f"line {i} " + "word " * 30 for i in range(10)]
    messages = await build(lines, 4096, soul_tokens=100)
    learned = messages[1].content
    assert "line 0" in learned and "line 9" not in learned
