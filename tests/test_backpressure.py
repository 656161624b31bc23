"""Backpressure: bounded queues per conversation and over all conversations, and the busy line.

The LLM is held behind a gate, so messages pile up exactly as they would behind a slow model;
`Pipeline.handle` takes its place in the queue before its first await, so tasks created in order
queue in that order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from anima.app import Runtime
from anima.characters.macros import expand
from anima.core.admission import NOT_READ, Admission
from anima.core.messages import Incoming, Reply
from tests.fakes.llm import InstantLLM

SENT: list[asyncio.Task[Reply | None]] = []


@pytest.fixture
async def gated(runtime: Runtime, instant_llm: InstantLLM) -> AsyncIterator[asyncio.Event]:
    """The LLM waits for this event; bounds of 2 waiting per conversation and 5 in all.

    At the end the gate opens and every message sent is answered before the runtime closes."""
    gate = asyncio.Event()
    instant_llm.gate = gate
    runtime.pipeline.admission = Admission(per_conversation=2, total=5)
    yield gate
    gate.set()
    await asyncio.wait_for(asyncio.gather(*SENT), timeout=20)
    SENT.clear()


def say(text: str, user: str = "u1") -> Incoming:
    return Incoming(platform="test", chat_id="c1", user_id=user, display_name="Lin", text=text)


def busy_line(runtime: Runtime) -> str:
    card = runtime.characters.get("aiko")
    return expand(card.busy[0], {"char": card.name, "user": "Lin"})


def send(runtime: Runtime, *messages: Incoming) -> list[asyncio.Task[Reply | None]]:
    tasks = [asyncio.create_task(runtime.pipeline.handle(m)) for m in messages]
    SENT.extend(tasks)
    return tasks


async def test_past_the_conversation_bound_the_person_hears_the_busy_line_once(
    runtime: Runtime, gated: asyncio.Event
) -> None:
    tasks = send(runtime, *(say(f"m{i}") for i in range(6)))
    refused = await asyncio.wait_for(asyncio.gather(*tasks[3:]), timeout=60)
    assert refused[0] is not None and refused[0].text == busy_line(runtime)
    assert refused[0].notices == [NOT_READ]
    assert refused[1:] == [None, None]  # the rest of the burst: silence, not a wall of busy lines


async def test_messages_inside_the_bound_are_all_answered_in_order_once_the_llm_catches_up(
    runtime: Runtime, gated: asyncio.Event
) -> None:
    tasks = send(runtime, *(say(f"m{i}") for i in range(5)))
    gated.set()
    replies = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    assert [r.text for r in replies[:3] if r] == ["You said: m0", "You said: m1", "You said: m2"]


async def test_a_refused_message_is_neither_stored_nor_sent_to_the_llm(
    runtime: Runtime, gated: asyncio.Event, instant_llm: InstantLLM
) -> None:
    tasks = send(runtime, *(say(f"m{i}") for i in range(4)))
    gated.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    asked = [r.messages[-1].content for r in instant_llm.requests]
    key = runtime.pipeline.key_for(say("x"), runtime.characters.get("aiko"))
    state = await runtime.memory.conversation(key, "Lin")
    assert "m3" not in asked
    assert [m.content for m in state.recent if m.role == "user"] == ["m0", "m1", "m2"]


async def test_a_new_burst_is_told_again_once_a_message_got_through(
    runtime: Runtime, gated: asyncio.Event
) -> None:
    first = send(runtime, *(say(f"a{i}") for i in range(4)))
    gated.set()
    await asyncio.wait_for(asyncio.gather(*first), timeout=60)
    gated.clear()
    second = send(runtime, *(say(f"b{i}") for i in range(4)))
    told = await asyncio.wait_for(second[3], timeout=60)
    assert told is not None and told.text == busy_line(runtime)


async def test_the_global_bound_turns_away_other_conversations_too(
    runtime: Runtime, gated: asyncio.Event
) -> None:
    send(runtime, *(say("hi", user=f"u{i}") for i in range(5)))
    newcomer = await asyncio.wait_for(runtime.pipeline.handle(say("hello?", user="late")), timeout=60)
    assert newcomer is not None and newcomer.text == busy_line(runtime)


async def test_the_queue_is_empty_again_once_everything_is_answered(
    runtime: Runtime, gated: asyncio.Event
) -> None:
    tasks = send(runtime, *(say(f"m{i}", user=f"u{i % 3}") for i in range(9)))
    gated.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    assert len(runtime.pipeline.admission) == 0


async def test_a_card_can_say_it_is_busy_in_its_own_words(runtime: Runtime, gated: asyncio.Event) -> None:
    card = runtime.characters.get("aiko")
    card.busy = ["*{{char}} juggles three teacups* Hold on, {{user}}!"]
    tasks = send(runtime, *(say(f"m{i}") for i in range(4)))
    told = await asyncio.wait_for(tasks[3], timeout=60)
    assert told is not None and told.text == f"*{card.name} juggles three teacups* Hold on, Lin!"
