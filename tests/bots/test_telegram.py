"""The Telegram adapter: the unmodified PTB Application against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from anima.app import Runtime
from anima.bots.service import serve
from anima.bots.telegram import TelegramAdapter
from anima.commands import COMMANDS
from anima.config import TelegramBotSettings
from anima.core.messages import Incoming
from anima.llm.base import GenerationRequest
from anima.memory.models import Conversation, Message, Preference, User
from anima.memory.store import MemoryStore
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, FakeTelegram, group_chat, person, private_chat

ALICE = person(101, "Alice")
BOB = person(102, "Bob")
GROUP = group_chat()


def bot_settings(tg: FakeTelegram, fake: FakeBot, **overrides: Any) -> TelegramBotSettings:
    return TelegramBotSettings(
        token=SecretStr(fake.token), base_url=tg.base_url, base_file_url=tg.base_file_url, **overrides
    )


def replies_texts(fake: FakeBot, chat_id: int) -> list[str]:
    return [m.text for m in fake.replies(chat_id)]


async def say(fake: FakeBot, chat: dict[str, Any], sender: dict[str, Any], text: str, **kw: Any) -> str:
    """Send `text` and return the text of the bot's next reply in that chat."""
    before = len(fake.replies(chat["id"]))
    fake.send_text(chat, sender, text, **kw)
    replies = await fake.wait_for_replies(chat["id"], before + 1)
    return replies[before].text


# --- private chats --------------------------------------------------------------------------------


async def test_private_message_gets_the_characters_reply(adapter: TelegramAdapter, fake: FakeBot) -> None:
    assert await say(fake, private_chat(ALICE), ALICE, "hello there") == "You said: hello there"
    assert fake.replies(ALICE["id"])[0].reply_to is None  # no quoting in a one-to-one chat


async def test_typing_is_shown_while_the_reply_is_generated(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    instant_llm.delay_s = 0.2  # two words: longer than the grace before "typing…" shows
    await say(fake, private_chat(ALICE), ALICE, "hi")
    methods = [c.method for c in fake.calls if c.method in ("sendChatAction", "sendMessage")]
    assert methods[:2] == ["sendChatAction", "sendMessage"]
    assert fake.calls_to("sendChatAction")[0].params["action"] == "typing"


async def test_the_menu_is_the_command_table(adapter: TelegramAdapter, fake: FakeBot) -> None:
    assert [(c["command"], c["description"]) for c in fake.commands] == [
        (c.name, c.description) for c in COMMANDS
    ]


async def test_about_answers_from_the_one_function(adapter: TelegramAdapter, fake: FakeBot) -> None:
    assert (await say(fake, private_chat(ALICE), ALICE, "/about")).startswith("Aiko (aiko): ")


async def test_start_sends_the_characters_greeting(adapter: TelegramAdapter, fake: FakeBot) -> None:
    greeting = await say(fake, private_chat(ALICE), ALICE, "/start")
    greetings = [g.replace("{{user}}", "Alice") for g in adapter.runtime.characters.get("aiko").greeting]
    assert greeting in greetings


async def test_replies_in_one_chat_continue_the_same_conversation(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    await say(fake, private_chat(ALICE), ALICE, "my cat is called Miso")
    await say(fake, private_chat(ALICE), ALICE, "what is my cat called?")
    history = [m.content for m in instant_llm.requests[-1].messages]
    assert "my cat is called Miso" in history


async def test_unknown_command_points_to_help(adapter: TelegramAdapter, fake: FakeBot) -> None:
    assert "/help" in await say(fake, private_chat(ALICE), ALICE, "/dance")


# --- groups ---------------------------------------------------------------------------------------


async def test_group_mention_gets_a_reply_quoting_the_message(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    asked = fake.send_text(GROUP, ALICE, "@aiko_bot how are you?")
    reply = (await fake.wait_for_replies(GROUP["id"]))[0]
    assert reply.text == "You said: how are you?"
    assert reply.reply_to == asked["message_id"]


async def test_group_message_not_addressed_to_the_bot_gets_no_reply(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.send_text(GROUP, ALICE, "anyone seen my umbrella?")
    fake.send_text(GROUP, ALICE, "Aikos are rare")  # not the name: a word that begins with it
    # Alice's messages are answered in order: once this one is answered, the first were passed over.
    await say(fake, GROUP, ALICE, "@aiko_bot ping")
    assert replies_texts(fake, GROUP["id"]) == ["You said: ping"]


async def test_group_reply_to_the_bot_gets_a_reply(adapter: TelegramAdapter, fake: FakeBot) -> None:
    await say(fake, GROUP, ALICE, "@aiko_bot hello")
    bots_message = fake.replies(GROUP["id"])[0]
    assert await say(fake, GROUP, ALICE, "and you?", reply_to=bots_message) == "You said: and you?"


async def test_group_message_opening_with_the_characters_name_gets_a_reply(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    assert await say(fake, GROUP, ALICE, "Aiko, tea?") == "You said: Aiko, tea?"


async def test_group_message_opening_with_another_characters_name_is_answered_by_it(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    """As on Discord (anima.core.addressing): any character's name opening a message calls on it."""
    assert await say(fake, GROUP, ALICE, "hey Grimble, any rumours?") == "You said: hey Grimble, any rumours?"
    assert "Grimble" in instant_llm.requests[-1].messages[0].content


async def test_a_character_chosen_in_a_group_answers_only_what_is_addressed_to_it(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    fake.make_admin(GROUP, ALICE)
    await say(fake, GROUP, ALICE, "/character grimble")
    fake.send_text(GROUP, BOB, "anyone seen my umbrella?")
    await say(fake, GROUP, BOB, "@aiko_bot ping")
    assert replies_texts(fake, GROUP["id"])[1:] == ["You said: ping"]
    assert "Grimble" in instant_llm.requests[-1].messages[0].content


async def test_group_members_each_keep_their_own_memory(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    await say(fake, GROUP, ALICE, "@aiko_bot my favourite fruit is plum")
    await say(fake, GROUP, BOB, "@aiko_bot what fruit do I like?")
    bobs_history = [m.content for m in instant_llm.requests[-1].messages[1:]]  # after the system prompt
    assert not any("plum" in text for text in bobs_history)


async def test_group_members_share_what_was_said_lately_in_the_group(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    fake.send_text(GROUP, BOB, "the meeting moved to Friday")
    await say(fake, GROUP, BOB, "@aiko_bot noted?")
    await say(fake, GROUP, ALICE, "@aiko_bot when is the meeting?")
    system = instant_llm.requests[-1].messages[0].content
    assert "Bob: the meeting moved to Friday" in system
    assert "Aiko: You said: noted?" in system


async def test_a_private_chat_never_surfaces_in_a_group(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    await say(fake, private_chat(ALICE), ALICE, "my diary code is 4711")
    await say(fake, GROUP, ALICE, "@aiko_bot what is my diary code?")
    assert not any("4711" in m.content for m in instant_llm.requests[-1].messages)


async def test_model_output_cannot_ping_group_members(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = lambda request: "hey @everyone_here and @carol_x"
    reply = await say(fake, GROUP, ALICE, "@aiko_bot call everyone")
    assert "@everyone_here" not in reply and "everyone_here" in reply


# --- commands with buttons ------------------------------------------------------------------------


async def test_character_button_switches_the_chats_character_and_it_is_remembered(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM, runtime: Runtime
) -> None:
    chat = private_chat(ALICE)
    await say(fake, chat, ALICE, "/character")
    keyboard = fake.replies(ALICE["id"])[-1]
    assert {"Aiko", "Grimble"} <= {name.removeprefix("✓ ") for name in keyboard.buttons}

    fake.press(chat, ALICE, keyboard, "Grimble")
    greeting = (await fake.wait_for_replies(ALICE["id"], 2))[1]
    assert greeting.text in [
        g.replace("{{user}}", "Alice") for g in runtime.characters.get("grimble").greeting
    ]
    await say(fake, chat, ALICE, "who are you?")

    assert "Grimble" in instant_llm.requests[-1].messages[0].content
    assert (
        await runtime.memory.get_preference("telegram", str(ALICE["id"]), f"character:{fake.id}") == "grimble"
    )


async def test_character_choice_is_per_chat(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    await say(fake, private_chat(ALICE), ALICE, "/character grimble")
    await say(fake, private_chat(BOB), BOB, "hi")
    assert "Aiko" in instant_llm.requests[-1].messages[0].content


async def count_rows(memory: MemoryStore, model: Any, *where: Any) -> int:
    query = select(func.count()).select_from(model).where(*where)
    return await memory.database.transaction(lambda conn: conn.execute(query).scalar_one())


async def test_reset_empties_the_stored_history(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    chat = private_chat(ALICE)
    await say(fake, chat, ALICE, "remember the lighthouse")
    assert (await say(fake, chat, ALICE, "/reset")).startswith("Aiko starts afresh")

    # A fresh store reads the history from the database: the old turns are out of it.
    store = await MemoryStore.open(runtime.settings.database_url)
    try:
        alice = Incoming("telegram", "101", "101", "Alice", "")
        key = runtime.pipeline.key_for(alice, runtime.characters.get("aiko"))
        recent = [m.content for m in (await store.conversation(key, "Alice")).recent]
    finally:
        await store.close()
    assert not any("lighthouse" in text for text in recent)


async def test_forget_after_confirmation_deletes_every_row_about_the_person(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    await say(fake, private_chat(ALICE), ALICE, "my address is 5 Elm Street")
    await say(fake, GROUP, ALICE, "@aiko_bot hi all")
    await say(fake, private_chat(ALICE), ALICE, "/voice on")
    await say(fake, private_chat(BOB), BOB, "I am Bob")
    await say(fake, private_chat(ALICE), ALICE, "/forget")
    question = fake.replies(ALICE["id"])[-1]
    fake.press(private_chat(ALICE), ALICE, question, "Yes, delete everything")
    await fake.wait_for(lambda: fake.replies(ALICE["id"])[-1].text.startswith("Done"))

    memory = runtime.memory
    assert await count_rows(memory, User, User.platform_user_id == "101") == 0
    assert await count_rows(memory, Preference, Preference.user_id == "101") == 0
    assert await count_rows(memory, Message, Message.content.contains("Elm Street")) == 0
    assert await count_rows(memory, Message, Message.content == "I am Bob") == 1  # Bob's stay
    assert await count_rows(memory, Conversation) == 1


async def test_confirmation_buttons_only_work_for_the_person_who_asked(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    await say(fake, GROUP, ALICE, "@aiko_bot my diary is private")
    await say(fake, GROUP, ALICE, "/forget")
    question = fake.replies(GROUP["id"])[-1]
    fake.press(GROUP, BOB, question, "Yes, delete everything")
    await fake.wait_for(lambda: len(fake.calls_to("answerCallbackQuery")) == 1)
    answer = fake.calls_to("answerCallbackQuery")[0].params
    assert answer["show_alert"] is True and answer["text"] == "This button is for the person who asked."
    assert await count_rows(runtime.memory, User, User.platform_user_id == "101") == 1


async def test_a_forged_button_gets_a_clear_answer(adapter: TelegramAdapter, fake: FakeBot) -> None:
    await say(fake, private_chat(ALICE), ALICE, "/forget")
    question = fake.replies(ALICE["id"])[-1]
    message = {
        "message_id": question.message_id,
        "date": 0,
        "chat": private_chat(ALICE),
        "text": question.text,
    }
    query = {"id": "q1", "from": ALICE, "message": message, "chat_instance": "1", "data": "forget:abc"}
    fake.inject({"callback_query": query})  # the data of an older button, or made up
    await fake.wait_for(lambda: len(fake.calls_to("answerCallbackQuery")) == 1)
    assert "no longer works" in fake.calls_to("answerCallbackQuery")[0].params["text"]
    await say(fake, private_chat(ALICE), ALICE, "still here?")  # and the bot goes on


async def test_memory_in_a_group_pings_nobody(adapter: TelegramAdapter, fake: FakeBot) -> None:
    await say(fake, GROUP, ALICE, "@aiko_bot tell @carol_smith hello")
    shown = await say(fake, GROUP, ALICE, "/memory")
    assert "@carol_smith" not in shown and "@\u2060carol_smith" in shown


async def test_memory_command_shows_what_the_character_keeps(adapter: TelegramAdapter, fake: FakeBot) -> None:
    await say(fake, private_chat(ALICE), ALICE, "I love kites")
    shown = await say(fake, private_chat(ALICE), ALICE, "/memory")
    assert "2 messages stored" in shown and "Alice: I love kites" in shown


async def test_voice_command_stores_the_persons_choice(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    assert "on" in await say(fake, private_chat(ALICE), ALICE, "/voice on")
    stored = await runtime.memory.get_preference("telegram", "101", "voice", "101")
    assert stored is True
    assert "off" in await say(fake, private_chat(ALICE), ALICE, "/voice off")


# --- delivery -------------------------------------------------------------------------------------


async def test_long_reply_is_split_at_paragraph_boundaries(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 200 + "end." for i in range(10)]  # ~1,000 chars each
    long_text = "\n\n".join(paragraphs)
    assert len(long_text) > 10_000
    instant_llm.reply = lambda request: long_text
    fake.send_text(private_chat(ALICE), ALICE, "tell me everything")
    await fake.wait_for(lambda: "\n\n".join(replies_texts(fake, ALICE["id"])) == long_text)
    pieces = replies_texts(fake, ALICE["id"])
    assert len(pieces) == 3
    assert all(len(p) <= 4096 and p.endswith("end.") for p in pieces)


async def test_model_markup_is_delivered_verbatim_as_plain_text(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    nasty = r"*bold _it [link](x) ~s~ `code >q #h +-=|{}.! <b>unclosed & **half \escaped"
    instant_llm.reply = lambda request: nasty
    assert await say(fake, private_chat(ALICE), ALICE, "markup please") == nasty
    assert fake.calls_to("sendMessage")[-1].params.get("parse_mode") is None


async def test_streaming_edits_one_message_at_most_once_per_interval(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = lambda request: " ".join(f"w{i}x" for i in range(60))
    instant_llm.delay_s = 0.02  # ~1.2 s of streaming
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake, edit_interval_s=0.3), 0)
    await adapter.start()
    try:
        fake.send_text(private_chat(ALICE), ALICE, "count for me")
        final = " ".join(f"w{i}x" for i in range(60))
        await fake.wait_for(lambda: replies_texts(fake, ALICE["id"]) == [final])
    finally:
        await adapter.stop()
    versions = [at for at, _ in fake.replies(ALICE["id"])[0].versions]
    gaps = [b - a for a, b in itertools.pairwise(versions)]
    assert len(versions) >= 3  # it did stream
    assert min(gaps) >= 0.25  # 0.3 s budget, less the network's jitter


async def test_rate_limited_reply_waits_retry_after_and_arrives(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=1)
    assert await say(fake, private_chat(ALICE), ALICE, "hello") == "You said: hello"
    first, second = fake.calls_to("sendMessage")
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.0


async def test_server_error_is_retried_and_the_reply_arrives(adapter: TelegramAdapter, fake: FakeBot) -> None:
    fake.fail_next("sendMessage", status=502, times=2)
    assert await say(fake, private_chat(ALICE), ALICE, "hello") == "You said: hello"
    assert [c.status for c in fake.calls_to("sendMessage")] == [502, 502, 200]


async def test_a_rate_limited_streaming_edit_is_skipped_not_waited_for(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    final = " ".join(f"w{i}x" for i in range(40))
    instant_llm.reply = lambda request: final
    instant_llm.delay_s = 0.02
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake, edit_interval_s=0.2), 0)
    await adapter.start()
    try:
        fake.fail_next("editMessageText", status=429, retry_after=30)
        fake.send_text(private_chat(ALICE), ALICE, "count")
        await fake.wait_for(lambda: replies_texts(fake, ALICE["id"]) == [final], within_s=60)
    finally:
        await adapter.stop()
    assert fake.calls_to("editMessageText")[0].status == 429  # an intermediate edit met the limit


async def test_telegram_failing_to_answer_polls_is_said_once_in_plain_words(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await adapter.start()
    try:
        polled = len(fake.calls_to("getUpdates"))
        fake.fail_next("getUpdates", status=502, times=3)
        with caplog.at_level(logging.DEBUG, logger="anima.core.sending"):
            await fake.wait_for(lambda: len(fake.calls_to("getUpdates")) >= polled + 4, 60)  # polling again
    finally:
        await adapter.stop()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "anima.core.sending"]
    assert [level for level, _ in said] == ["INFO", "DEBUG", "DEBUG"]
    assert said[0][1].startswith("telegram[0] @aiko_bot: cannot reach Telegram (")
    assert said[0][1].endswith("); trying again until it answers")


async def test_stopping_is_bounded_while_telegram_keeps_failing(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    adapter.limits.retries.stop_grace_s = 1.0
    await adapter.start()
    fake.fail_next("sendMessage", status=502, times=100)
    fake.send_text(private_chat(ALICE), ALICE, "hello?")
    await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) >= 2)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(adapter.stop(), 60)
    assert asyncio.get_running_loop().time() - started < 5


async def test_fifty_people_five_messages_each_get_their_replies_in_order(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake, messages_per_second=0), 0)
    await adapter.start()
    people = [person(1000 + i, f"P{i}") for i in range(50)]
    try:
        for turn in range(5):
            for p in people:
                fake.send_text(private_chat(p), p, f"{p['first_name']} message {turn}")
        expected = {p["id"]: [f"You said: {p['first_name']} message {t}" for t in range(5)] for p in people}
        await fake.wait_for(
            lambda: all(replies_texts(fake, chat) == texts for chat, texts in expected.items()), within_s=45
        )
    finally:
        await adapter.stop()


async def test_messages_per_second_limit_paces_sends(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake, messages_per_second=5), 0)
    await adapter.start()
    people = [person(2000 + i, f"Q{i}") for i in range(15)]
    try:
        for p in people:
            fake.send_text(private_chat(p), p, "hi")
        await fake.wait_for(lambda: all(fake.replies(p["id"]) for p in people), within_s=20)
    finally:
        await adapter.stop()
    sent = sorted(c.at for c in fake.calls_to("sendMessage"))
    # A lower bound on time, which load can only lengthen: after a burst of 5, the other 10 replies
    # go out at 5 per second. (Counting arrivals per window fails under load: requests the limiter
    # spaced out can reach the server bunched together.)
    assert len(sent) == 15
    assert sent[-1] - sent[0] >= (15 - 5) / 5 - 0.2


async def test_group_limit_spaces_the_bots_messages_in_a_group(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake, group_messages_per_minute=120), 0)
    await adapter.start()
    try:
        for sender in (ALICE, BOB, person(103, "Carol")):
            fake.send_text(GROUP, sender, "@aiko_bot hi")
        await fake.wait_for_replies(GROUP["id"], 3)
    finally:
        await adapter.stop()
    sent = [c.at for c in fake.calls_to("sendMessage")]
    # 120/min: one per 0.5 s. Measured where the fake receives them, so a send delayed on its way in
    # narrows the next gap: the span of all three carries the limit, each gap only its sign.
    assert sent[-1] - sent[0] >= 0.9
    assert min(b - a for a, b in itertools.pairwise(sent)) >= 0.3


async def test_a_chat_to_write_first_in_is_a_group_by_its_negative_id_and_none_for_no_telegram_id(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    group = await adapter.open_chat(str(GROUP["id"]), str(ALICE["id"]), "Alice", "aiko")
    assert group is not None and group.kind == "group" and group.quote is None
    private = await adapter.open_chat(str(ALICE["id"]), str(ALICE["id"]), "Alice", "aiko")
    assert private is not None and private.kind == "private"
    assert await adapter.open_chat("general", str(ALICE["id"]), "Alice", "aiko") is None
    assert await adapter.open_chat("--5", str(ALICE["id"]), "Alice", "aiko") is None


# --- other updates --------------------------------------------------------------------------------


async def test_a_photo_telegram_cannot_deliver_gets_a_clear_line(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]  # no file behind it
    fake.inject({"message": fake.message(private_chat(ALICE), ALICE, photo=photo)})
    reply = (await fake.wait_for_replies(ALICE["id"]))[0]
    assert "couldn't look at your picture" in reply.text and "send it again" in reply.text


async def test_edited_message_in_a_private_chat_gets_a_short_note(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    edited = fake.message(private_chat(ALICE), ALICE, text="typo fixed") | {"edit_date": 1}
    fake.inject({"edited_message": edited})
    assert "send it again" in (await fake.wait_for_replies(ALICE["id"]))[0].text


async def test_sticker_in_a_group_is_passed_over_in_silence(adapter: TelegramAdapter, fake: FakeBot) -> None:
    sticker = {
        "file_id": "s1",
        "file_unique_id": "s1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    fake.inject({"message": fake.message(GROUP, ALICE, sticker=sticker)})
    await say(fake, GROUP, ALICE, "@aiko_bot ping")
    assert replies_texts(fake, GROUP["id"]) == ["You said: ping"]


async def test_other_bots_are_never_answered(adapter: TelegramAdapter, fake: FakeBot) -> None:
    other_bot = person(555, "Chatty", is_bot=True)
    fake.send_text(GROUP, other_bot, "@aiko_bot let's talk forever")
    await say(fake, GROUP, ALICE, "@aiko_bot ping")
    assert replies_texts(fake, GROUP["id"]) == ["You said: ping"]


async def test_channel_posts_are_passed_over_in_silence(adapter: TelegramAdapter, fake: FakeBot) -> None:
    channel = {"id": -100999, "type": "channel", "title": "News"}
    fake.inject({"channel_post": {"message_id": 1, "date": 0, "chat": channel, "text": "Aiko, news!"}})
    await say(fake, private_chat(ALICE), ALICE, "ping")
    assert fake.replies(channel["id"]) == []


async def test_a_failing_handler_does_not_stop_the_bot(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    def explode_once(request: GenerationRequest) -> str:
        instant_llm.reply = lambda r: "back again"
        raise RuntimeError("a bug in a backend")

    instant_llm.reply = explode_once
    assert "something went wrong" in await say(fake, private_chat(ALICE), ALICE, "first")
    assert await say(fake, private_chat(ALICE), ALICE, "second") == "back again"


# --- reliability ----------------------------------------------------------------------------------


async def test_an_update_delivered_twice_is_answered_once(adapter: TelegramAdapter, fake: FakeBot) -> None:
    message = fake.message(private_chat(ALICE), ALICE, text="only once")
    update_id = fake.inject({"message": message})
    await fake.wait_for_replies(ALICE["id"])
    fake.pending.append({"update_id": update_id, "message": message})  # Telegram's at-least-once
    await say(fake, private_chat(ALICE), ALICE, "next")
    assert replies_texts(fake, ALICE["id"]) == ["You said: only once", "You said: next"]


async def test_an_update_redelivered_after_a_restart_is_not_answered_again(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    message = fake.message(private_chat(ALICE), ALICE, text="only once")
    first = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await first.start()
    update_id = fake.inject({"message": message})
    await fake.wait_for_replies(ALICE["id"])
    await first.stop()

    fake.pending.appendleft({"update_id": update_id, "message": message})  # as after a crash
    second = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await second.start()
    try:
        await say(fake, private_chat(ALICE), ALICE, "after restart")
    finally:
        await second.stop()
    assert replies_texts(fake, ALICE["id"]) == ["You said: only once", "You said: after restart"]


async def test_the_token_never_appears_in_logs(
    adapter: TelegramAdapter, fake: FakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next("sendMessage", status=502)
    await say(fake, private_chat(ALICE), ALICE, "hello")
    assert "sendMessage" in caplog.text  # requests were logged…
    assert fake.token not in caplog.text  # …without the token


# --- running ---------------------------------------------------------------------------------------


async def test_webhook_mode_answers_updates_pushed_with_the_secret(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/telegram/aiko"
    settings = bot_settings(
        tg, fake, mode="webhook", port=unused_tcp_port, url=url, secret_token=SecretStr("s3cret")
    )
    adapter = TelegramAdapter(runtime, settings, 0)
    await adapter.start()
    try:
        assert fake.webhook == (url, "s3cret")
        assert await say(fake, private_chat(ALICE), ALICE, "over the hook") == "You said: over the hook"
    finally:
        await adapter.stop()


async def test_webhook_refuses_requests_without_the_secret(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/hook"
    adapter = TelegramAdapter(
        runtime, bot_settings(tg, fake, mode="webhook", port=unused_tcp_port, url=url), 0
    )
    await adapter.start()
    try:
        update = {"update_id": 1, "message": fake.message(private_chat(ALICE), ALICE, text="forged")}
        async with aiohttp.ClientSession() as session, session.post(url, json=update) as response:
            assert response.status == 403
    finally:
        await adapter.stop()
    assert fake.replies(ALICE["id"]) == []


async def test_webhook_mode_without_a_url_fails_naming_the_setting(tg: FakeTelegram, fake: FakeBot) -> None:
    # a config check, so `anima config check` and load_settings report it with its line (test_config.py)
    with pytest.raises(ValidationError, match=r"mode: webhook needs url"):
        bot_settings(tg, fake, mode="webhook")


async def test_two_bots_in_one_process_answer_as_their_own_characters(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    grimble = tg.add_bot("grimble_bot", "Grimble")
    bots = [
        TelegramAdapter(runtime, bot_settings(tg, fake), 0),
        TelegramAdapter(runtime, bot_settings(tg, grimble, character="grimble"), 1),
    ]
    for bot in bots:
        await bot.start()
    try:
        await say(grimble, private_chat(ALICE), ALICE, "who are you?")
        assert "Grimble" in instant_llm.requests[-1].messages[0].content
        await say(fake, private_chat(ALICE), ALICE, "and you?")
        assert "Aiko" in instant_llm.requests[-1].messages[0].content
    finally:
        for bot in bots:
            await bot.stop()


async def test_anima_run_serves_the_configured_bots(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    runtime.settings.bots.telegram.append(bot_settings(tg, fake))
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(runtime, stop))
    try:
        assert await say(fake, private_chat(ALICE), ALICE, "via anima run") == "You said: via anima run"
    finally:
        stop.set()
        await asyncio.wait_for(serving, 60)
