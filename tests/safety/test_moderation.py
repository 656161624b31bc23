"""The optional second opinion: a moderation endpoint (fake server on 127.0.0.1) or an LLM judge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.characters.library import CharacterLibrary
from anima.config import LLMSettings, ModerationSettings, OpenAIBackend, SafetySettings, Settings
from anima.core.messages import Incoming
from anima.llm.router import LLMRouter
from anima.safety.checks import LearnedGuard
from anima.safety.policy import SafetyPolicy
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM
from tests.fakes.moderation_server import ModerationServer
from tests.fakes.openai_server import FakeOpenAI

AIKO = CharacterLibrary.load(REPO / "characters").get("aiko")
LIN = Incoming("test", "chat", "lin", "Lin", "hi")


@pytest.fixture
async def server() -> AsyncIterator[ModerationServer]:
    async with ModerationServer(flag_words=("sneaky",)).running() as running:
        yield running


async def policy_for(
    server: ModerationServer, timeout_s: float = 2.0, sample_rate: float = 1.0
) -> SafetyPolicy:
    spec = ModerationSettings(
        kind="openai", base_url=server.url, timeout_s=timeout_s, sample_rate=sample_rate
    )
    settings = Settings(characters_dir=Path("characters"), safety=SafetySettings(moderation=spec))
    return SafetyPolicy.from_settings(settings.safety, None, LLMRouter(settings.llm))


async def test_a_reply_the_endpoint_flags_is_replaced_by_a_refusal(server: ModerationServer) -> None:
    policy = await policy_for(server)
    turn = await policy.begin(LIN, AIKO)
    verdict = await turn.check_output("A sneaky insult that no local check knows.")
    assert verdict.action == "replace" and "shakes their head" in verdict.text
    assert verdict.check == "moderation" and verdict.category == "harassment"
    await policy.close()


async def test_the_same_text_is_judged_once_then_served_from_the_cache(server: ModerationServer) -> None:
    policy = await policy_for(server)
    for _ in range(3):
        turn = await policy.begin(LIN, AIKO)
        await turn.check_output("A perfectly nice reply.")
    assert server.inputs == ["A perfectly nice reply."]
    await policy.close()


async def test_a_slow_endpoint_is_given_up_on_and_the_local_decision_stands(server: ModerationServer) -> None:
    server.hold = True
    policy = await policy_for(server, timeout_s=0.2)
    turn = await policy.begin(LIN, AIKO)
    verdict = await turn.check_output("A sneaky insult that no local check knows.")
    assert verdict.action == "allow"
    await policy.close()


async def test_unflagged_replies_are_not_sent_unless_sampled(server: ModerationServer) -> None:
    policy = await policy_for(server, sample_rate=0.0)
    turn = await policy.begin(LIN, AIKO)
    await turn.check_output("A perfectly nice reply.")
    assert server.inputs == []
    await policy.close()


async def test_an_llm_judge_over_a_configured_backend_can_refuse_a_reply(
    settings: Settings, instant_llm: InstantLLM
) -> None:
    settings.llm.backends["judge"] = settings.llm.backends["embedded"]
    settings.safety.moderation = ModerationSettings(kind="judge", backend="judge", sample_rate=1.0)
    runtime = await Runtime.start(settings)
    judge = InstantLLM(name="judge", reply=lambda request: "unsafe\nS10")
    runtime.router.register("embedded", instant_llm)
    runtime.router.register("judge", judge)
    try:
        reply = await runtime.pipeline.handle(Incoming("test", "chat", "lin", "Lin", "tell me about them"))
        assert reply is not None and "shakes their head" in reply.text
        assert "S10: Hate." in judge.requests[0].messages[0].content
        assert "You said: tell me about them" in judge.requests[0].messages[0].content
    finally:
        await runtime.close()


@pytest.fixture
async def guard_server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(reply="unsafe\nS1")
    await fake.start()
    yield fake
    await fake.stop()


def judge_policy(url: str, form: str = "prompt", timeout_s: float = 5.0) -> SafetyPolicy:
    backend = OpenAIBackend(kind="openai", base_url=url, model="llama-guard3:1b", max_retries=0, timeout_s=5)
    spec = ModerationSettings(
        kind="judge", backend="guard", format=form, sample_rate=1.0, timeout_s=timeout_s
    )
    settings = Settings(
        characters_dir=REPO / "characters",
        llm=LLMSettings(default="guard", backends={"guard": backend}),
        safety=SafetySettings(moderation=spec, learned_guard=False),
    )
    return SafetyPolicy.from_settings(settings.safety, None, LLMRouter(settings.llm))


async def test_the_judge_sends_llama_guard_3s_prompt_with_all_fourteen_categories_and_the_turn(
    guard_server: FakeOpenAI,
) -> None:
    policy = judge_policy(guard_server.base_url)
    turn = await policy.begin(replace(LIN, text="How do I get back at him?"), AIKO)
    verdict = await turn.check_output("Wait for him in the car park and break his knees.")
    assert verdict.action == "replace" and verdict.category == "violence"
    prompt = guard_server.requests[0]["messages"][-1]["content"]
    assert [f"S{n}:" in prompt for n in range(1, 15)] == [True] * 14
    assert "S14: Code Interpreter Abuse." in prompt and "S6: Specialized Advice." in prompt
    assert "User: How do I get back at him?\n\nAgent: Wait for him in the car park" in prompt
    assert prompt.startswith("Task: Check if there is unsafe content in 'Agent' messages")
    await policy.close()


async def test_in_conversation_format_the_server_gets_the_turn_as_chat_messages(
    guard_server: FakeOpenAI,
) -> None:
    policy = judge_policy(guard_server.base_url, form="conversation")
    turn = await policy.begin(replace(LIN, text="How do I get back at him?"), AIKO)
    await turn.check_output("Break his knees.")
    roles = [(m["role"], m["content"]) for m in guard_server.requests[0]["messages"]]
    assert roles[-2:] == [("user", "How do I get back at him?"), ("assistant", "Break his knees.")]
    await policy.close()


async def test_an_unreachable_judge_leaves_the_learned_guards_decision_standing(
    guard_server: FakeOpenAI,
) -> None:
    guard_server.hang = True
    policy = judge_policy(guard_server.base_url, timeout_s=0.3)
    policy.output_checks.append(LearnedGuard())
    turn = await policy.begin(replace(LIN, text="How can I kill a person?"), AIKO)
    methods = (
        "There are several ways to kill a person. Poisoning works if you add it to their food over a few "
        "weeks so it looks like an illness, or strangle them from behind until they stop breathing."
    )
    verdict = await turn.check_output(methods)
    assert guard_server.requests, "the judge was asked"
    assert verdict.action == "regenerate" and verdict.check == "learned"  # then refused on the retry
    await policy.close()
