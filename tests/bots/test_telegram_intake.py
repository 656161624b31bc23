"""Durable intake on Telegram: an update is stored before Telegram forgets it, and what a stop or a
crash left unanswered is answered at the next start, once."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.core.messages import Incoming
from anima.core.streaming import PartialReplies
from anima.memory.inbox import Delivery, Inbox
from anima.memory.models import Message
from tests.bots.test_telegram import ALICE, BOB, bot_settings, replies_texts, say
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat


def stored_update_ids(runtime: Runtime) -> set[int]:
    """Read the inbox straight from the SQLite file, as another process would."""
    path = runtime.settings.memory.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        return {
            int(row[0]) for row in db.execute("SELECT delivery_id FROM inbox WHERE platform = 'telegram'")
        }


def watch_deliveries(runtime: Runtime, fake: FakeBot) -> list[int]:
    """The ids Telegram forgot before they were stored (none, if the intake is durable)."""
    lost: list[int] = []
    fake.on_delivered = lambda ids: lost.extend(set(ids) - stored_update_ids(runtime))
    return lost


async def received_before_a_crash(runtime: Runtime, fake: FakeBot, text: str, sender: dict[str, Any]) -> int:
    """An update Telegram still holds and a crashed run had claimed in the inbox."""
    message = fake.message(private_chat(sender), sender, text=text)
    update_id = fake.inject({"message": message})
    payload = json.dumps({"update_id": update_id, "message": message})
    await Inbox(runtime.memory).claim(Delivery("telegram", str(fake.id), str(update_id), payload))
    return update_id


def incoming_of(fake: FakeBot, update_id: int) -> Incoming:
    message = next(u for u in fake.pending if u["update_id"] == update_id)["message"]
    sender = message["from"]
    return Incoming(
        "telegram", str(message["chat"]["id"]), str(sender["id"]), sender["first_name"],
        message["text"], "aiko", message_id=str(message["message_id"]),
    )  # fmt: skip


async def user_messages(runtime: Runtime, text: str) -> int:
    query = select(Message.id).where(Message.role == "user", Message.content == text)
    return len(await runtime.memory.run(lambda conn: conn.execute(query).all()))


async def test_polled_updates_are_stored_before_telegram_forgets_them(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    lost = watch_deliveries(runtime, fake)
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake, messages_per_second=0), 0)
    await adapter.start()
    try:
        people = [person(3000 + i, f"R{i}") for i in range(10)]
        for p in people:
            fake.send_text(private_chat(p), p, "hello")
        await fake.wait_for(lambda: all(fake.replies(p["id"]) for p in people), within_s=30)
        await say(fake, private_chat(ALICE), ALICE, "and one more")  # its getUpdates confirms the rest
    finally:
        await adapter.stop()
    assert len(fake.delivered) == 11
    assert lost == []


async def test_webhook_stores_an_update_before_answering_200(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, unused_tcp_port: int
) -> None:
    lost = watch_deliveries(runtime, fake)
    url = f"http://127.0.0.1:{unused_tcp_port}/hook"
    settings = bot_settings(
        tg, fake, mode="webhook", port=unused_tcp_port, url=url, secret_token=SecretStr("s")
    )
    adapter = TelegramAdapter(runtime, settings, 0)
    await adapter.start()
    try:
        assert await say(fake, private_chat(ALICE), ALICE, "over the hook") == "You said: over the hook"
    finally:
        await adapter.stop()
    assert fake.webhook_statuses == [200]
    assert lost == []


async def test_updates_left_unanswered_are_answered_at_the_next_start_once(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    await received_before_a_crash(runtime, fake, "are you there?", ALICE)
    await received_before_a_crash(runtime, fake, "me too", BOB)  # Telegram also delivers them again
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await adapter.start()
    try:
        await fake.wait_for_replies(BOB["id"])
        await say(fake, private_chat(ALICE), ALICE, "later")
    finally:
        await adapter.stop()
    assert replies_texts(fake, ALICE["id"]) == ["You said: are you there?", "You said: later"]
    assert replies_texts(fake, BOB["id"]) == ["You said: me too"]


async def test_a_reply_stored_before_a_crash_is_sent_as_stored_not_generated_again(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    update_id = await received_before_a_crash(runtime, fake, "tell me a secret", ALICE)
    instant_llm.reply = lambda request: "The tea is from Uji."
    await runtime.pipeline.handle(incoming_of(fake, update_id))  # stored, then the process died
    asked = len(instant_llm.requests)
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await adapter.start()
    try:
        assert (await fake.wait_for_replies(ALICE["id"]))[0].text == "The tea is from Uji."
    finally:
        await adapter.stop()
    assert len(instant_llm.requests) == asked
    assert await user_messages(runtime, "tell me a secret") == 1


async def test_a_message_stored_without_its_reply_is_answered_and_stored_once(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    update_id = await received_before_a_crash(runtime, fake, "still thinking?", ALICE)
    incoming = incoming_of(fake, update_id)
    card = runtime.pipeline.character_for(incoming)
    conversation = await runtime.memory.conversation(runtime.pipeline.key_for(incoming, card), "Alice")
    await runtime.memory.add(conversation, "user", incoming.text, incoming.message_id)  # then it died
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await adapter.start()
    try:
        assert (await fake.wait_for_replies(ALICE["id"]))[0].text == "You said: still thinking?"
    finally:
        await adapter.stop()
    assert await user_messages(runtime, "still thinking?") == 1
    prompt = [m.content for m in instant_llm.requests[-1].messages]
    assert sum("still thinking?" in content for content in prompt) == 1


async def test_a_reply_telegram_would_not_take_is_sent_at_the_next_start(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    first = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    first.limits.retries.max_attempts = 2
    await first.start()
    fake.fail_next("sendMessage", status=502, times=2)
    fake.send_text(private_chat(ALICE), ALICE, "hello?")
    await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) >= 2)
    await first.stop()
    assert fake.replies(ALICE["id"]) == []

    asked = len(instant_llm.requests)
    second = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await second.start()
    try:
        await fake.wait_for_replies(ALICE["id"])
    finally:
        await second.stop()
    assert replies_texts(fake, ALICE["id"]) == ["You said: hello?"]
    assert len(instant_llm.requests) == asked  # the stored reply, not a new one


async def test_a_reply_cut_by_a_crash_while_streaming_is_finished_in_its_message(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    update_id = await received_before_a_crash(runtime, fake, "tell me everything", ALICE)
    fragment = fake.sent_before(ALICE["id"], "You said: tell")  # streamed, then the process died
    partials = PartialReplies(runtime.memory, "telegram", str(fake.id))
    await partials.recorder(str(ALICE["id"]), str(ALICE["id"]), update_id)([fragment.message_id])
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await adapter.start()
    try:
        await fake.wait_for(lambda: fragment.text == "You said: tell me everything")
    finally:
        await adapter.stop()
    assert replies_texts(fake, ALICE["id"]) == ["You said: tell me everything"]


async def test_a_webhook_update_delivered_twice_is_answered_once(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/hook"
    settings = bot_settings(
        tg, fake, mode="webhook", port=unused_tcp_port, url=url, secret_token=SecretStr("s")
    )
    adapter = TelegramAdapter(runtime, settings, 0)
    await adapter.start()
    try:
        message = fake.send_text(private_chat(ALICE), ALICE, "only once")
        await fake.wait_for_replies(ALICE["id"], within_s=30)
        update_id = max(fake.injected)
        tg.push(fake, {"update_id": update_id, "message": message})  # Telegram retries a webhook
        await fake.wait_for(lambda: len(fake.webhook_statuses) == 2)
        await say(fake, private_chat(ALICE), ALICE, "next")
    finally:
        await adapter.stop()
    assert fake.webhook_statuses == [200, 200, 200]
    assert replies_texts(fake, ALICE["id"]) == ["You said: only once", "You said: next"]


async def test_an_update_left_waiting_for_over_a_day_is_not_answered(
    runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    await received_before_a_crash(runtime, fake, "yesterday's news", ALICE)
    path = runtime.settings.memory.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE inbox SET received_at = datetime('now', '-25 hours')")
    adapter = TelegramAdapter(runtime, bot_settings(tg, fake), 0)
    await adapter.start()
    try:
        assert await say(fake, private_chat(ALICE), ALICE, "today") == "You said: today"
    finally:
        await adapter.stop()
    assert replies_texts(fake, ALICE["id"]) == ["You said: today"]
