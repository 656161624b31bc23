"""Bursts read as one message: a person's messages that come close together get one reply, the model
reading all of them in order, on Telegram and Discord through their unmodified libraries."""

from __future__ import annotations

import asyncio

import pytest

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.config import ConversationSettings, Settings
from tests.bots.test_discord import World, settled, start_bot
from tests.bots.test_telegram import ALICE, bot_settings, replies_texts, say
from tests.bots.test_telegram_intake import received_before_a_crash, stored_update_ids
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, FakeTelegram, group_chat, private_chat

BURST = ["hey", "so I have news", "I got the job", "at the bakery!"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The default window: messages within 1.5 s of each other are read together."""
    return settings.model_copy(update={"conversation": ConversationSettings(coalesce_ms=1500)})


def user_turns(llm: InstantLLM) -> list[str]:
    """The newest user message of each model call."""
    return [next(m.content for m in reversed(r.messages) if m.role == "user") for r in llm.requests]


async def test_four_telegram_messages_within_a_second_get_one_reply_to_all_four(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    for text in BURST:
        fake.send_text(private_chat(ALICE), ALICE, text)
    await fake.wait_for_replies(ALICE["id"], within_s=30)
    # the next message is answered after anything left of the burst: nothing was
    assert await say(fake, private_chat(ALICE), ALICE, "anyway") == "You said: anyway"
    assert user_turns(instant_llm) == ["\n".join(BURST), "anyway"]
    assert replies_texts(fake, ALICE["id"]) == ["You said: " + "\n".join(BURST), "You said: anyway"]


async def test_four_discord_messages_within_a_second_get_one_reply_to_all_four(
    runtime: Runtime, world: World, instant_llm: InstantLLM
) -> None:
    bot = await start_bot(runtime, world.fake)
    try:
        for text in BURST:
            await world.fake.say(world.alice_dm, world.alice, text)
        await settled(world, world.alice_dm, ["You said: " + "\n".join(BURST)])
        await world.fake.say(world.alice_dm, world.alice, "anyway")
        await settled(world, world.alice_dm, ["You said: " + "\n".join(BURST), "You said: anyway"])
    finally:
        await bot.stop()
    assert user_turns(instant_llm) == ["\n".join(BURST), "anyway"]


async def test_a_mention_storm_in_a_group_is_answered_once(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    group = group_chat()
    for text in ("@aiko_bot hi", "@aiko_bot hello??", "@aiko_bot answer me"):
        fake.send_text(group, ALICE, text)
    await fake.wait_for_replies(group["id"], within_s=30)
    assert await say(fake, group, ALICE, "@aiko_bot ok") == "You said: ok"
    assert user_turns(instant_llm) == ["hi\nhello??\nanswer me", "ok"]


async def test_a_message_sent_while_the_reply_streams_is_answered_after_it(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    instant_llm.gate = asyncio.Event()
    fake.send_text(private_chat(ALICE), ALICE, "first")
    await fake.wait_for(lambda: len(instant_llm.requests) == 1)
    fake.send_text(private_chat(ALICE), ALICE, "second")  # the first reply is being generated
    await fake.wait_for(lambda: len(stored_update_ids(adapter.runtime)) == 2)  # "second" came in
    instant_llm.gate.set()
    await fake.wait_for_replies(ALICE["id"], 2, within_s=20)
    assert replies_texts(fake, ALICE["id"]) == ["You said: first", "You said: second"]
    assert user_turns(instant_llm) == ["first", "second"]


async def test_a_burst_a_crash_left_unanswered_is_answered_once_at_the_next_start(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    await received_before_a_crash(runtime, fake, "are you up?", ALICE)  # the process died in the window
    await received_before_a_crash(runtime, fake, "I can't sleep", ALICE)
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await adapter.start()
    try:
        await fake.wait_for_replies(ALICE["id"], within_s=30)
        assert await say(fake, private_chat(ALICE), ALICE, "night") == "You said: night"
    finally:
        await adapter.stop()
    assert replies_texts(fake, ALICE["id"]) == ["You said: are you up?\nI can't sleep", "You said: night"]


async def test_with_coalescing_off_each_message_gets_its_own_reply(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    runtime.conversations.coalesce_s = 0
    for text in BURST[:2]:
        fake.send_text(private_chat(ALICE), ALICE, text)
    await fake.wait_for_replies(ALICE["id"], 2)
    assert replies_texts(fake, ALICE["id"]) == [f"You said: {text}" for text in BURST[:2]]
