"""The conversation service: one entry point for every adapter; exactly once, in order, with voice."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from anima.app import Runtime
from anima.core.admission import NOT_READ
from anima.core.messages import Incoming
from anima.memory.inbox import Delivery
from tests.fakes.llm import InstantLLM
from tests.fakes.surface import FakeSurface
from tests.test_pipeline import GatedLLM

HI = Incoming("test", "chat", "lin", "Lin", "hi", message_id="m1")


def delivery(message_id: str = "m1") -> Delivery:
    return Delivery("test", "bot", message_id, "{}")


async def test_a_reply_streams_to_the_surface(runtime: Runtime) -> None:
    surface = FakeSurface()
    reply = await runtime.conversations.handle(HI, surface)
    assert reply is not None and surface.texts() == ["You said: hi"] and surface.actions == ["typing"]


async def test_chatter_not_for_the_bot_gets_nothing(runtime: Runtime, instant_llm: InstantLLM) -> None:
    surface = FakeSurface(for_bot=False)
    assert await runtime.conversations.handle(HI, surface, delivery()) is None
    assert surface.shown == [] and instant_llm.requests == []


async def test_one_persons_messages_are_answered_in_arrival_order(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    instant_llm.delay_s = 0.001
    surface = FakeSurface()
    messages = [replace(HI, text=f"message {i}", message_id=str(i)) for i in range(5)]
    await asyncio.gather(*(runtime.conversations.handle(m, surface) for m in messages))
    assert surface.texts() == [f"You said: message {i}" for i in range(5)]


async def test_a_delivery_is_answered_once(runtime: Runtime, instant_llm: InstantLLM) -> None:
    surface = FakeSurface()
    await runtime.conversations.handle(HI, surface, delivery())
    await runtime.conversations.handle(HI, surface, delivery())  # redelivered
    assert surface.texts() == ["You said: hi"] and len(instant_llm.requests) == 1


async def test_a_delivery_claimed_at_the_door_is_answered_and_marked(runtime: Runtime) -> None:
    conversations = runtime.conversations
    assert await conversations.claim(delivery())
    assert not await conversations.claim(delivery())  # a redelivery is dropped at the door
    await conversations.handle(HI, FakeSurface(), delivery())
    assert await conversations.inbox.pending("test", "bot") == []


async def test_a_reply_stored_before_a_crash_is_sent_again_without_the_model(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    """The reply was stored but the process died before the platform took it."""
    await runtime.conversations.claim(delivery())
    await runtime.pipeline.handle(HI)  # the turn that ran before the crash
    after_restart = runtime.conversations
    [left] = await after_restart.unanswered("test", "bot")
    surface = FakeSurface()
    await after_restart.handle(HI, surface, left)
    assert surface.texts() == ["You said: hi"] and surface.resumed == [True]
    assert len(instant_llm.requests) == 1  # only the turn before the crash


async def test_a_message_stored_without_its_reply_is_answered_without_storing_it_twice(
    runtime: Runtime,
) -> None:
    await runtime.conversations.claim(delivery())
    key = runtime.pipeline.key_for(HI, runtime.characters.get("aiko"))
    conversation = await runtime.memory.conversation(key, "Lin")
    await runtime.memory.add(conversation, "user", "hi", "m1")  # the crash came right after this
    [left] = await runtime.conversations.unanswered("test", "bot")
    await runtime.conversations.handle(HI, FakeSurface(), left)
    view = await runtime.memory.view(key, "Lin")
    assert [m.content for m in view.recent] == ["hi", "You said: hi"]


async def test_a_reply_the_platform_did_not_take_stays_for_the_next_start(runtime: Runtime) -> None:
    await runtime.conversations.claim(delivery())
    await runtime.conversations.handle(HI, FakeSurface(unreachable=True), delivery())
    assert [d.delivery_id for d in await runtime.conversations.inbox.pending("test", "bot")] == ["m1"]


async def test_a_failure_is_apologised_for_and_counts_as_answered(runtime: Runtime) -> None:
    surface = FakeSurface()
    runtime.pipeline.memory.add = None  # type: ignore[assignment]  # a broken store: the turn raises
    await runtime.conversations.handle(HI, surface, delivery())
    assert "something went wrong" in surface.texts()[-1]
    assert await runtime.conversations.inbox.pending("test", "bot") == []


async def test_over_the_bound_the_busy_line_comes_once(runtime: Runtime) -> None:
    runtime.pipeline.admission.per_conversation = 0
    runtime.pipeline.admission.total = 1
    gated = GatedLLM()
    runtime.router.register("embedded", gated)
    surface = FakeSurface()
    first = asyncio.create_task(runtime.conversations.handle(HI, surface))
    await gated.wait_in_flight(1)  # the first one holds the only place, waiting for the model
    for i in range(3):
        await runtime.conversations.handle(replace(HI, text=f"more {i}"), surface)
    gated.release.set()
    await first
    busy = [r for r in surface.replies if NOT_READ in r.notices]
    assert len(busy) == 1 and len(surface.replies) == 2
    assert surface.texts()[-1] == "You said: hi"


async def test_in_a_followed_group_a_character_reads_what_the_others_said_lately(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    conversations = runtime.conversations
    conversations.follow_groups("test", "bot", lines=8)
    group = Incoming("test", "group", "bo", "Bo", "the ferry leaves at nine", message_id="g1")
    await conversations.handle(group, FakeSurface(kind="group", user_id="bo", for_bot=False))
    asked = replace(group, user_id="lin", display_name="Lin", text="Aiko, when do we go?", message_id="g2")
    await conversations.handle(asked, FakeSurface(kind="group"))
    await conversations.handle(replace(asked, text="and after?", message_id="g3"), FakeSurface(kind="group"))
    prompts = ["\n".join(m.content for m in r.messages) for r in instant_llm.requests]
    assert "Bo: the ferry leaves at nine" in prompts[0]  # chatter not for the bot, still heard
    assert "Aiko: You said" not in prompts[1]  # the reply to Lin is already in Lin's conversation
    for forgotten in conversations.on_forget:  # what /forget by Bo calls
        forgotten("test", "bo")
    await conversations.handle(replace(asked, text="again?", message_id="g4"), FakeSurface(kind="group"))
    assert "ferry" not in "\n".join(m.content for m in instant_llm.requests[-1].messages)
