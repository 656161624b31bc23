"""Soul growth through the pipeline: proposals with evidence, owner approval, auto bounds, scope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from anima.app import Runtime
from anima.llm.base import GenerationRequest
from tests.soul.conftest import LIN, MEI, SoulScript, is_review, say, talk

FESTIVAL = {
    "kind": "backstory",
    "text": "sang at the autumn festival with the Tuesday regulars",
    "cite": "festival",
}
HABIT = {"kind": "habit", "text": "says 'tea fixes most things' when someone is sad", "cite": "tea"}


def last_prompt(runtime: Runtime) -> str:
    backend: Any = runtime.router.backend("embedded")
    replies: list[GenerationRequest] = [r for r in backend.requests if not is_review(r)]
    return "\n".join(m.content for m in replies[-1].messages)


async def test_a_conversation_makes_a_pending_proposal_linked_to_its_messages(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    script.queue(FESTIVAL)
    await talk(soul_runtime, "You sang at the festival last night!", "Everyone loved it.")

    [proposal] = await soul_runtime.soul.proposals("aiko")
    assert (proposal.kind, proposal.text, proposal.status) == ("backstory", FESTIVAL["text"], "pending")
    evidence = await soul_runtime.soul.evidence(proposal)
    assert [e.content for e in evidence] == ["You sang at the festival last night!"]


async def test_propose_mode_changes_nothing_until_the_owner_approves(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    soul = soul_runtime.soul
    script.queue(FESTIVAL)
    await talk(soul_runtime, "You sang at the festival last night!", "Everyone loved it.")
    await talk(soul_runtime, "What did you do yesterday?")
    assert FESTIVAL["text"] not in last_prompt(soul_runtime)
    assert await soul.version("aiko") == 0

    [proposal] = await soul.proposals("aiko")
    made = await soul.approve(proposal.id, "cli:owner")
    await talk(soul_runtime, "What did you do yesterday?")

    assert FESTIVAL["text"] in last_prompt(soul_runtime)
    assert (made.version, made.approved_by) == (1, "cli:owner")


async def test_a_rejected_proposal_never_reaches_the_prompt(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    soul = soul_runtime.soul
    script.queue(FESTIVAL)
    await talk(soul_runtime, "You sang at the festival last night!", "Everyone loved it.")
    [proposal] = await soul.proposals("aiko")
    await soul.reject(proposal.id, "cli:owner")
    await talk(soul_runtime, "What did you do yesterday?")

    assert FESTIVAL["text"] not in last_prompt(soul_runtime)
    assert (await soul.proposal(proposal.id)).status == "rejected"


@pytest.mark.parametrize(
    "growth", [{"mode": "auto", "review_every": 2, "kinds": ["habit"], "max_per_day": 2}]
)
async def test_auto_mode_applies_only_allowed_kinds_and_at_most_its_daily_bound(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    soul = soul_runtime.soul
    habits = [
        {"kind": "habit", "text": text, "cite": "tea"}
        for text in ("hums while the kettle boils", "calls rain 'sky tea'", "taps her mug twice before a sip")
    ]
    script.queue(*habits, {"kind": "opinion", "text": "oolong beats every green tea", "cite": "tea"})
    await talk(soul_runtime, "Tea time?", "Yes, tea please.")

    applied = {e.text for e in await soul.entries("aiko")}
    waiting = {p.text for p in await soul.proposals("aiko")}
    assert applied == {"hums while the kettle boils", "calls rain 'sky tea'"}
    assert waiting == {"taps her mug twice before a sip", "oolong beats every green tea"}


@pytest.mark.parametrize("growth", [{"mode": "auto", "review_every": 2, "max_per_day": 1}])
async def test_auto_mode_applies_again_the_next_day(soul_runtime: Runtime, script: SoulScript) -> None:
    soul, memory = soul_runtime.soul, soul_runtime.memory
    script.queue({"kind": "habit", "text": "hums while the kettle boils", "cite": "tea"})
    script.queue({"kind": "habit", "text": "calls rain 'sky tea'", "cite": "tea"})
    await talk(soul_runtime, "Tea time?", "Yes, tea please.")
    today = memory.clock()
    memory.clock = lambda: today + timedelta(days=1, hours=1)
    await talk(soul_runtime, "More tea?", "Always tea.")

    assert [e.text for e in await soul.entries("aiko")] == [
        "hums while the kettle boils",
        "calls rain 'sky tea'",
    ]


@pytest.mark.parametrize("growth", [{"mode": "auto", "review_every": 2, "protected": ["backstory"]}])
async def test_a_protected_kind_never_changes_even_in_auto_mode(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    script.queue(FESTIVAL)
    await talk(soul_runtime, "You sang at the festival last night!", "Everyone loved it.")

    assert await soul_runtime.soul.entries("aiko") == []
    assert await soul_runtime.soul.proposals("aiko") == []


@pytest.mark.parametrize("growth", [{"mode": "off"}])
async def test_growth_off_asks_the_model_for_nothing(soul_runtime: Runtime, script: SoulScript) -> None:
    await talk(soul_runtime, *[f"message {i}" for i in range(30)])
    assert script.reviews == []


async def test_a_duplicate_of_a_learned_line_is_not_proposed_again(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    soul = soul_runtime.soul
    script.queue(FESTIVAL)
    script.queue({**FESTIVAL, "text": "Sang at the autumn festival with the Tuesday regulars!"})
    await talk(soul_runtime, "You sang at the festival last night!", "Everyone loved it.")
    [first] = await soul.proposals("aiko")
    await soul.approve(first.id, "cli:owner")
    await talk(soul_runtime, "The festival was fun.", "Sing again?")

    assert await soul.proposals("aiko") == []


async def test_a_relationship_reaches_only_the_chats_of_its_user(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    soul = soul_runtime.soul
    joke = "Lin and I joke that my umbrella is cursed"
    script.queue({"kind": "relationship", "text": joke, "cite": "umbrella"})
    await talk(soul_runtime, "Your umbrella broke again?", "Cursed umbrella!")
    [proposal] = await soul.proposals("aiko")
    await soul.approve(proposal.id, "cli:owner")

    await talk(soul_runtime, "hello", who=LIN)
    assert joke in last_prompt(soul_runtime)
    await talk(soul_runtime, "hello", who=MEI)
    assert joke not in last_prompt(soul_runtime)


async def test_forget_removes_the_relationship_with_that_user_and_keeps_shared_growth(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    soul = soul_runtime.soul
    joke = "Lin and I joke that my umbrella is cursed"
    script.queue({"kind": "relationship", "text": joke, "cite": "umbrella"}, FESTIVAL)
    await talk(soul_runtime, "Your umbrella broke at the festival?", "Cursed umbrella!")
    for proposal in await soul.proposals("aiko"):
        await soul.approve(proposal.id, "cli:owner")
    await talk(soul_runtime, "hello")  # the layer is cached now

    await soul_runtime.memory.forget_user("test", "lin")
    await talk(soul_runtime, "hello again")

    assert [e.text for e in await soul.entries("aiko")] == [FESTIVAL["text"]]
    assert joke not in last_prompt(soul_runtime)
    for version in (1, 2):
        assert joke not in [e.text for e in await soul.entries("aiko", version)]


async def test_the_learned_layer_costs_no_query_per_message_while_unchanged(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    await talk(soul_runtime, *[f"message {i}" for i in range(10)])
    assert soul_runtime.soul.loads == 1


async def test_proposals_are_made_after_the_reply_never_before_it(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    script.queue(FESTIVAL)
    await soul_runtime.pipeline.handle(say("You sang at the festival last night!"))
    reply = await soul_runtime.pipeline.handle(say("Everyone loved it."))
    asked_before_reply = len(script.reviews)
    await soul_runtime.pipeline.keeper.drain(10)

    assert reply is not None and reply.text == "You said: Everyone loved it."
    assert (asked_before_reply, len(script.reviews)) == (0, 1)


async def test_a_users_export_includes_what_the_character_learned_about_their_relationship(
    soul_runtime: Runtime, script: SoulScript
) -> None:
    joke = "Lin and I joke that my umbrella is cursed"
    script.queue({"kind": "relationship", "text": joke, "cite": "umbrella"})
    await talk(soul_runtime, "Your umbrella broke again?", "Cursed umbrella!")
    [proposal] = await soul_runtime.soul.proposals("aiko")
    await soul_runtime.soul.approve(proposal.id, "cli:owner")

    exported = await soul_runtime.memory.export_user("test", "lin")
    assert exported is not None
    assert [(r["character"], r["text"], r["current"]) for r in exported["relationships"]] == [
        ("aiko", joke, True)
    ]
