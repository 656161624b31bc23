"""Lyrics written by the character's LLM fit the melody: a wrong syllable count is sent back to be fixed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anima.commands.singing.lyrics import MAX_ATTEMPTS, write_lyrics
from anima.config import Settings
from anima.llm.base import GenerationRequest
from anima.llm.router import LLMRouter
from anima.voice.sing import ScoreError, parse
from tests.fakes.llm import InstantLLM
from tests.voice.conftest import card

MELODY = "/sing about the sea | C4 D4 E4 R G4 A4 G4 E4 | "


@pytest.fixture
async def router(settings: Settings, instant_llm: InstantLLM) -> AsyncIterator[LLMRouter]:
    """The router the runtime would build, its default backend the instant fake."""
    router = LLMRouter(settings.llm)
    router.register("embedded", instant_llm)
    yield router
    await router.close()


def scripted(*answers: str):  # type: ignore[no-untyped-def]
    given = iter(answers)

    def reply(request: GenerationRequest) -> str:
        return next(given)

    return reply


async def test_a_wrong_count_is_sent_back_and_the_corrected_lyrics_are_sung(
    router: LLMRouter, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = scripted("the sea is wide\nand blue and deep", "the blue sea\nis wide and deep")
    score = parse(MELODY).score
    written = await write_lyrics(router, card("aiko"), score, "the sea")

    assert [g.syllable.text for g in written.sung()] == ["the", "blue", "sea", "is", "wide", "and", "deep"]
    assert len(instant_llm.requests) == 2
    feedback = instant_llm.requests[1].messages[-1].content
    assert "line 1 (the sea is wide) has 4 syllables but needs exactly 3" in feedback


async def test_lyrics_that_never_fit_fail_with_what_to_do(router: LLMRouter, instant_llm: InstantLLM) -> None:
    instant_llm.reply = lambda request: "la"
    with pytest.raises(ScoreError, match=f"could not fit lyrics to this melody in {MAX_ATTEMPTS} tries"):
        await write_lyrics(router, card("aiko"), parse(MELODY).score, "the sea")
    assert len(instant_llm.requests) == MAX_ATTEMPTS


async def test_a_melody_too_long_to_sing_is_refused_before_any_lyrics_are_asked_for(
    router: LLMRouter, instant_llm: InstantLLM
) -> None:
    from anima.commands.singing.request import score_for
    from anima.voice.sing.score import MAX_SUNG_NOTES

    notes = "C4/2 " * (MAX_SUNG_NOTES + 1)
    with pytest.raises(ScoreError, match=f"{MAX_SUNG_NOTES + 1} sung notes; at most {MAX_SUNG_NOTES}"):
        await score_for(f"/sing about the sea | {notes}", card("aiko"), router)
    assert instant_llm.requests == []
