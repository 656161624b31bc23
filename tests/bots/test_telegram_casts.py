"""A cast on Telegram: one bot per member, all in one process, each member's answers through its own
bot (the unmodified PTB client against the fake Bot API). Telegram never shows a bot what another
bot wrote; the fake can (`sees_bots`), to prove that bots' messages never start a loop."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.config import BotsSettings, CastSettings, MemorySettings, Settings
from tests.bots.test_telegram import ALICE, GROUP, bot_settings
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat
from tests.test_casts import cards_dir, in_character

TALKATIVE = {"talkativeness": "1"}
SENTINELS = itertools.count(900)


@pytest.fixture
async def cast(tmp_path: Path, tg: FakeTelegram) -> AsyncIterator[Callable[..., Any]]:
    """`await cast(strategy, max_bot_turns)`: aiko and grimble, each with a bot of its own (served by
    one runtime), playing in GROUP; returns the runtime, the fake bots by member, and the LLM."""
    started: list[Runtime | TelegramAdapter] = []

    async def start(
        strategy: str = "natural", max_bot_turns: int = 3
    ) -> tuple[Runtime, dict[str, FakeBot], InstantLLM]:
        cast = CastSettings(
            chat=f"telegram:{GROUP['id']}",
            members=["aiko", "grimble"],
            strategy=strategy,
            max_bot_turns=max_bot_turns,  # type: ignore[arg-type]  # pydantic checks it
        )
        bots = {"aiko": tg.add_bot("aiko_bot", "Aiko"), "grimble": tg.add_bot("grimble_bot", "Grimble")}
        each = [
            bot_settings(tg, fake, character=member, group_messages_per_minute=0)
            for member, fake in bots.items()
        ]
        settings = Settings(
            characters_dir=cards_dir(tmp_path, aiko=TALKATIVE, grimble=TALKATIVE),
            memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db"),
            bots=BotsSettings(telegram=each),
            casts=[cast],
        )
        runtime = await Runtime.start(settings)
        started.append(runtime)
        llm = InstantLLM(reply=in_character)
        runtime.router.register("embedded", llm)
        for index, bot in enumerate(each):
            adapter = TelegramAdapter(runtime, bot, index)
            await adapter.start()
            started.append(adapter)
        return runtime, bots, llm

    yield start
    for part in reversed(started):
        await (part.stop() if isinstance(part, TelegramAdapter) else part.close())


async def settle(runtime: Runtime, bots: dict[str, FakeBot]) -> None:
    """Until nothing more happens in the group: a private message to each bot, answered after what
    it received before (its updates come in order), then every turn in flight finished."""
    sent = -1
    while sent != sum(len(bot.replies(GROUP["id"])) for bot in bots.values()):
        sent = sum(len(bot.replies(GROUP["id"])) for bot in bots.values())
        sentinel = person(next(SENTINELS), "Sentinel")  # a new one each time: never a flood
        for bot in bots.values():
            bot.send_text(private_chat(sentinel), sentinel, "ping")
            await bot.wait_for_replies(sentinel["id"], 1, within_s=60)
        await runtime.pipeline.turns.idle()


def group_lines(bots: dict[str, FakeBot]) -> list[tuple[str, str]]:
    """(member, text) of every message the cast's bots sent to the group, in the order sent."""
    sent = [
        (message.versions[0][0], member, message.text)
        for member, bot in bots.items()
        for message in bot.replies(GROUP["id"])
    ]
    return [(member, text) for _, member, text in sorted(sent)]


async def test_two_bots_take_turns_each_through_its_own_bot_and_stop_at_max_bot_turns(
    tg: FakeTelegram, cast: Any
) -> None:
    runtime, bots, _ = await cast("natural", max_bot_turns=3)
    tg.say_in_group(list(bots.values()), GROUP, ALICE, "Hello, you two!")
    await settle(runtime, bots)
    lines = group_lines(bots)
    assert [member for member, _ in lines[:2]] == ["aiko", "grimble"]  # greetings, by their own bots
    turns = lines[2:]
    assert len(turns) == 3 and turns[0][0] != turns[1][0] != turns[2][0]
    assert all(
        text == {"aiko": "The tea is ready.", "grimble": "Hmph. Good steel."}[member]
        for member, text in turns
    )


async def test_the_message_both_bots_received_is_answered_once_each_member_reading_the_other(
    tg: FakeTelegram, cast: Any
) -> None:
    runtime, bots, llm = await cast("list")
    tg.say_in_group(list(bots.values()), GROUP, ALICE, "Tell me a rumour")
    await settle(runtime, bots)
    assert [member for member, _ in group_lines(bots)[2:]] == ["aiko", "grimble"]
    grimbles = [
        r for r in llm.requests if "You are Grimble" in r.messages[0].content and r.user_name == "Aiko"
    ]
    assert len(grimbles) == 1 and "The tea is ready." in "\n".join(m.content for m in grimbles[0].messages)


async def test_a_member_addressed_with_its_bots_mention_answers(tg: FakeTelegram, cast: Any) -> None:
    runtime, bots, _ = await cast("manual")
    bots["grimble"].send_text(
        GROUP, ALICE, "@grimble_bot how much for a shield?"
    )  # privacy mode: only he sees it
    await settle(runtime, bots)
    assert [member for member, _ in group_lines(bots)[2:]] == ["grimble"]


async def test_other_bots_messages_never_start_a_loop(tg: FakeTelegram, cast: Any) -> None:
    runtime, bots, llm = await cast("natural", max_bot_turns=3)
    for bot in bots.values():
        bot.sees_bots = True  # each sees what the other (and any bot) writes in the group
    chatter = tg.add_bot("chatter_bot", "Chatter")
    tg.say_in_group(list(bots.values()), GROUP, ALICE, "Hi")
    await settle(runtime, bots)
    chatter.post(GROUP["id"], "Aiko, Grimble: beep boop, answer me!")
    await settle(runtime, bots)
    assert len(group_lines(bots)) == 2 + 3  # greetings and one scene: nothing for the bots' messages
    assert len([r for r in llm.requests if r.user_name != "Sentinel"]) == 3
