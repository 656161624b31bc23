"""Characters that write first, with consent, on Telegram and Discord through their unmodified
libraries: only to people who turned it on, after the card's quiet while, never in quiet hours,
never twice without an answer, and once when two runtimes share the database. The clock is the
test's: the schedule is looked at with `run_once`, never by waiting."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.bots.telegram import TelegramAdapter
from anima.config import ConversationSettings, MemorySettings, Settings
from anima.core.messages import Incoming
from anima.core.surface import ChatOpener
from anima.memory.proactive import DUE_PER_PASS, ProactiveKey
from tests.bots.test_discord import World, command_reply, settled, start_bot
from tests.bots.test_telegram import ALICE, GROUP
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM
from tests.fakes.surface import FakeSurface
from tests.fakes.telegram_server import FakeBot, private_chat
from tests.memory.conftest import database_url, postgres  # noqa: F401  (SQLite and a throw-away PostgreSQL)

OPENING = "{{user}}! I just thought of you — how did the interview go?"
PROACTIVE = f"""
proactive:
  enabled: true
  after_idle: 10m
  max_per_day: 2
  quiet_hours: "22:00-08:00"
  openings: ["{OPENING}"]
"""
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    """The runtime's "now" (messages are stamped with it, the schedule reads it), moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, hour: int, minute: int = 0, day: int = 0) -> None:
        self.now = NOON.replace(hour=hour, minute=minute) + timedelta(days=day)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """Aiko's card allows writing first (with an opening); Grimble's too, with none (generated);
    quiet hours in UTC; the schedule is never read by itself (the test calls run_once)."""
    cards = tmp_path / "characters"
    shutil.copytree(REPO / "characters", cards)
    with (cards / "aiko.yaml").open("a", encoding="utf-8") as card:
        card.write(PROACTIVE)
    with (cards / "grimble.yaml").open("a", encoding="utf-8") as card:
        card.write(PROACTIVE.replace(f'  openings: ["{OPENING}"]\n', ""))
    conversation = ConversationSettings(coalesce_ms=0, timezone="UTC", proactive_check_s=3600)
    return settings.model_copy(update={"characters_dir": cards, "conversation": conversation})


@pytest.fixture
def clock(runtime: Runtime) -> Clock:
    clock = Clock(NOON)
    runtime.memory.clock = clock
    return clock


async def say(runtime: Runtime, fake: FakeBot, chat: dict[str, Any], text: str) -> str:
    """Send `text` and return the reply, once its turn has ended: the turn stores the message and the
    reply while the reply shows, and whether a person answered is read from what is stored."""
    before = len(fake.replies(chat["id"]))
    fake.send_text(chat, ALICE, text)
    reply = (await fake.wait_for_replies(chat["id"], before + 1, within_s=60))[before].text
    await runtime.pipeline.turns.idle()
    return reply


async def test_a_person_who_turned_it_on_hears_first_after_the_quiet_while_and_not_twice_unanswered(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, clock: Clock
) -> None:
    chat = private_chat(ALICE)
    await say(runtime, fake, chat, "I have my job interview tomorrow")
    assert "may now write first here after 10m" in await say(runtime, fake, chat, "/proactive on")

    clock.at(12, 5)
    assert await runtime.proactive.run_once() == 0  # not quiet for long enough yet
    clock.at(12, 11)
    assert await runtime.proactive.run_once() == 1
    opening = (await fake.wait_for_replies(ALICE["id"], 3))[2].text
    assert opening == "Alice! I just thought of you — how did the interview go?"

    clock.at(13)
    assert await runtime.proactive.run_once() == 0  # never twice in a row without an answer
    await say(runtime, fake, chat, "it went great!")
    clock.at(13, 15)
    assert await runtime.proactive.run_once() == 1
    assert (await fake.wait_for_replies(ALICE["id"], 5))[4].text.startswith("Alice! I just thought")


async def test_no_one_hears_first_without_turning_it_on(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, clock: Clock
) -> None:
    await say(runtime, fake, private_chat(ALICE), "hello")
    clock.at(18)
    assert await runtime.proactive.run_once() == 0
    await say(runtime, fake, private_chat(ALICE), "/proactive on")
    await say(runtime, fake, private_chat(ALICE), "/proactive off")
    clock.at(20)
    assert await runtime.proactive.run_once() == 0
    assert len(fake.replies(ALICE["id"])) == 3


async def test_nothing_is_written_in_quiet_hours_it_waits_for_the_morning(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, clock: Clock
) -> None:
    clock.at(21, 55)
    await say(runtime, fake, private_chat(ALICE), "/proactive on")
    clock.at(23, 30)
    assert await runtime.proactive.run_once() == 0
    clock.at(7, 59, day=1)
    assert await runtime.proactive.run_once() == 0
    clock.at(8, 1, day=1)
    assert await runtime.proactive.run_once() == 1


async def test_at_most_max_per_day(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, clock: Clock
) -> None:
    await say(runtime, fake, private_chat(ALICE), "/proactive on")
    sent = 0
    for hour in (13, 15, 17):  # each one answered, so only the daily cap holds the third back
        clock.at(hour)
        sent += await runtime.proactive.run_once()
        clock.at(hour, 1)
        await say(runtime, fake, private_chat(ALICE), "hi again")
    assert sent == 2
    clock.at(13, day=1)
    assert await runtime.proactive.run_once() == 1


async def test_in_a_group_only_an_admin_turns_it_on(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, clock: Clock
) -> None:
    await say(runtime, fake, GROUP, "@aiko_bot hello everyone")
    refused = await say(runtime, fake, GROUP, "/proactive on")
    assert refused.startswith("Only this chat's admins")
    clock.at(13)
    assert await runtime.proactive.run_once() == 0
    fake.make_admin(GROUP, ALICE)
    await say(runtime, fake, GROUP, "/proactive on")
    clock.at(14)
    assert await runtime.proactive.run_once() == 1
    assert (await fake.wait_for_replies(GROUP["id"], 4))[3].text.startswith("Alice! I just thought of you")


async def test_a_generated_first_message_arrives_in_a_discord_dm(
    runtime: Runtime, world: World, clock: Clock, instant_llm: InstantLLM
) -> None:
    bot: DiscordAdapter = await start_bot(runtime, world.fake, character="grimble")
    try:
        await world.fake.say(world.alice_dm, world.alice, "my cat Miso is ill")
        await settled(world, world.alice_dm, ["You said: my cat Miso is ill"])
        asked = await world.fake.slash(world.alice_dm, world.alice, "proactive", {"args": "on"})
        assert "may now write first" in (await command_reply(world, asked))["data"]["content"]
        clock.at(12, 30)
        assert await runtime.proactive.run_once() == 1
        messages = await world.fake.wait_until(lambda: world.fake.bot_messages(world.alice_dm)[1:])
    finally:
        await bot.stop()
    assert messages[0]["content"].startswith("You said: (Alice has not written for a while.")
    prompt = "\n".join(m.content for m in instant_llm.requests[-1].messages)
    assert "my cat Miso is ill" in prompt  # what it writes from: the conversation so far
    grimble = runtime.characters.get("grimble")
    dm = Incoming("discord", world.alice_dm, world.alice["id"], "Alice", "", "grimble")
    stored = await runtime.memory.conversation(runtime.pipeline.key_for(dm, grimble), "Alice")
    assert (stored.recent[-1].role, stored.recent[-1].content) == ("assistant", messages[0]["content"])


async def test_two_runtimes_on_one_database_write_once(
    settings: Settings,
    database_url: str,  # noqa: F811  (the fixture)
    instant_llm: InstantLLM,
) -> None:
    shared = settings.model_copy(update={"memory": MemorySettings(database_url=database_url)})
    runtimes = [await Runtime.start(shared), await Runtime.start(shared)]
    chats = [FakeSurface(), FakeSurface()]
    clock = Clock(NOON)
    try:
        for runtime, chat in zip(runtimes, chats, strict=True):
            runtime.router.register("embedded", instant_llm)
            runtime.memory.clock = clock
            runtime.proactive.reach(chat.platform, chat.bot_id, opener_of(chat))
        await runtimes[0].proactive.enable(ProactiveKey("test", "bot", "chat", "lin", "aiko"), "private")
        clock.at(12, 30)
        sent = await asyncio.gather(*(runtime.proactive.run_once() for runtime in runtimes))
    finally:
        for runtime in runtimes:
            await runtime.close()
    assert sorted(sent) == [0, 1]
    assert [reply.text for chat in chats for reply in chat.replies] == [OPENING.replace("{{user}}", "Lin")]


def opener_of(chat: FakeSurface) -> ChatOpener:
    async def opener(chat_id: str, user_id: str, display_name: str, character_id: str) -> FakeSurface:
        return chat

    return opener


async def test_the_schedule_is_read_by_itself_while_a_bot_runs(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, clock: Clock
) -> None:
    await say(runtime, fake, private_chat(ALICE), "/proactive on")
    await runtime.proactive.close()
    runtime.proactive.check_s = 0.05  # every 50 ms instead of every 30 s
    runtime.proactive.start()
    clock.at(13)
    assert (await fake.wait_for_replies(ALICE["id"], 2, within_s=30))[1].text.startswith("Alice! I just")


async def test_a_person_who_blocked_the_bot_is_not_written_to_again(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, clock: Clock
) -> None:
    await say(runtime, fake, private_chat(ALICE), "/proactive on")
    fake.fail_next("sendMessage", 403, None, times=10, description="Forbidden: bot was blocked by the user")
    clock.at(13)
    assert await runtime.proactive.run_once() == 0
    key = ProactiveKey("telegram", adapter.intake.bot_id, str(ALICE["id"]), str(ALICE["id"]), "aiko")
    assert not await runtime.proactive.enabled(key)  # off: asking again would only be refused again
    tried = len(fake.calls_to("sendMessage"))
    clock.at(13, day=1)
    assert await runtime.proactive.run_once() == 0
    assert len(fake.calls_to("sendMessage")) == tried


async def test_chats_of_a_bot_no_process_serves_never_hold_up_the_ones_this_process_serves(
    runtime: Runtime, clock: Clock
) -> None:
    """A bot taken out of config.yaml (or whose process is down) keeps its opted-in chats due; more
    of them than one pass looks at must not starve the chats of the bots that run."""
    for n in range(DUE_PER_PASS + 5):
        await runtime.proactive.enable(ProactiveKey("telegram", "gone", f"c{n}", f"u{n}", "aiko"), "private")
    chat = FakeSurface()
    runtime.proactive.reach(chat.platform, chat.bot_id, opener_of(chat))
    clock.at(12, 30)
    await runtime.proactive.enable(ProactiveKey(chat.platform, chat.bot_id, "chat", "lin", "aiko"), "private")
    clock.at(13)
    assert await runtime.proactive.run_once() == 1
    assert [reply.text for reply in chat.replies] == [OPENING.replace("{{user}}", "Lin")]


async def test_a_card_allowing_zero_a_day_says_it_does_not_write_first(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, settings: Settings
) -> None:
    card = settings.characters_dir / "aiko.yaml"
    card.write_text(card.read_text("utf-8").replace("max_per_day: 2", "max_per_day: 0"), "utf-8")
    await runtime.characters.reload([card])
    said = await say(runtime, fake, private_chat(ALICE), "/proactive on")
    assert said.endswith("does not write first: the card does not allow it.")  # not "at most 0 a day"
