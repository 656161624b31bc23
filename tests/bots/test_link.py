"""One person on both platforms: /link on Telegram gives a code, /link CODE on Discord joins the two
accounts, and what a character learned about the person in private crosses over (memory.linked_scope)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.bots.telegram import TelegramAdapter
from anima.memory.models import utcnow
from tests.bots.test_discord import World, command_reply, settled
from tests.bots.test_telegram import ALICE, BOB, GROUP
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, private_chat

FACT = "I adopted a cat named Miso"
QUESTION = "what is my cat called?"


async def say(fake: FakeBot, chat: dict[str, Any], sender: dict[str, Any], text: str) -> str:
    """Send `text` on Telegram and return the bot's next reply there (the first turn of a run may
    wait for the safety classifier to load: a longer wait than tests.bots.test_telegram's)."""
    before = len(fake.replies(chat["id"]))
    fake.send_text(chat, sender, text)
    return (await fake.wait_for_replies(chat["id"], before + 1, within_s=60))[before].text


def prompt_of(llm: InstantLLM) -> str:
    return "\n".join(m.content for m in llm.requests[-1].messages)


async def told_on_telegram(runtime: Runtime, fake: FakeBot, text: str = FACT) -> None:
    await say(fake, private_chat(ALICE), ALICE, text)
    await runtime.pipeline.keeper.drain()  # the rule fact is learned in the background


async def asked_on_discord(world: World, instant_llm: InstantLLM, text: str = QUESTION) -> str:
    before = len(world.fake.bot_messages(world.alice_dm))
    await world.fake.say(world.alice_dm, world.alice, text)
    await world.fake.wait_until(lambda: len(world.fake.bot_messages(world.alice_dm)) > before, 60)
    await settled(world, world.alice_dm, [m["content"] for m in world.fake.bot_messages(world.alice_dm)])
    return prompt_of(instant_llm)


async def linked(fake: FakeBot, world: World) -> str:
    """/link on Telegram, then /link CODE on Discord; the Discord answer."""
    answer = await say(fake, private_chat(ALICE), ALICE, "/link")
    code = re.search(r"Your code: (\w+)", answer)
    assert code is not None, answer
    interaction = await world.fake.slash(world.alice_dm, world.alice, "link", {"args": code[1]})
    return str((await command_reply(world, interaction))["data"]["content"])


async def test_a_fact_told_on_telegram_is_recalled_in_a_discord_dm_after_link_and_not_before(
    runtime: Runtime,
    adapter: TelegramAdapter,
    fake: FakeBot,
    bot: DiscordAdapter,
    world: World,
    instant_llm: InstantLLM,
) -> None:
    await told_on_telegram(runtime, fake)
    assert "Miso" not in await asked_on_discord(world, instant_llm)

    assert (await linked(fake, world)).startswith("Linked with your Telegram account")
    assert "Miso" in await asked_on_discord(world, instant_llm, "and what is my cat called now?")


async def test_unlink_separates_the_accounts_again(
    runtime: Runtime,
    adapter: TelegramAdapter,
    fake: FakeBot,
    bot: DiscordAdapter,
    world: World,
    instant_llm: InstantLLM,
) -> None:
    await told_on_telegram(runtime, fake)
    await linked(fake, world)
    assert (await say(fake, private_chat(ALICE), ALICE, "/unlink")).startswith("Unlinked from your Discord")
    assert "Miso" not in await asked_on_discord(world, instant_llm)


async def test_what_was_said_in_a_group_stays_out_of_the_other_account_by_default(
    runtime: Runtime,
    adapter: TelegramAdapter,
    fake: FakeBot,
    bot: DiscordAdapter,
    world: World,
    instant_llm: InstantLLM,
) -> None:
    await say(fake, GROUP, ALICE, f"@aiko_bot {FACT}")
    await runtime.pipeline.keeper.drain()
    await linked(fake, world)
    assert "Miso" not in await asked_on_discord(world, instant_llm)


async def test_a_code_works_once_and_not_after_ten_minutes(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot, bot: DiscordAdapter, world: World
) -> None:
    answer = await say(fake, private_chat(ALICE), ALICE, "/link")
    code = answer.split("Your code: ", 1)[1].split()[0]
    assert code.isalnum() and len(code) == 6
    runtime.memory.clock = lambda: utcnow() + timedelta(minutes=11)
    interaction = await world.fake.slash(world.alice_dm, world.alice, "link", {"args": code})
    assert "unknown or expired" in (await command_reply(world, interaction))["data"]["content"]


async def test_forget_deletes_both_linked_accounts(
    runtime: Runtime,
    adapter: TelegramAdapter,
    fake: FakeBot,
    bot: DiscordAdapter,
    world: World,
    instant_llm: InstantLLM,
) -> None:
    await told_on_telegram(runtime, fake)
    await linked(fake, world)
    asked = await world.fake.slash(world.alice_dm, world.alice, "forget")
    assert "linked Telegram account" in (await command_reply(world, asked))["data"]["content"]
    pressed = await world.fake.press(asked, "Yes, delete everything", world.alice)
    assert (await command_reply(world, pressed))["data"]["content"].startswith("Done:")
    assert await runtime.memory.users(str(ALICE["id"]), "telegram") == []
    assert await runtime.memory.users(world.alice["id"], "discord") == []


async def test_codes_are_not_guessed_five_wrong_ones_and_even_the_right_one_waits(
    runtime: Runtime, adapter: TelegramAdapter, fake: FakeBot
) -> None:
    code = (await say(fake, private_chat(ALICE), ALICE, "/link")).split("Your code: ", 1)[1].split()[0]
    guesses = ["AAAAAA", "ZZZZZZ", "234567", "x" * 16, "ＡＢＣ１２３"]  # fullwidth letters are alnum too
    for guess in guesses:
        assert "unknown or expired" in await say(fake, private_chat(BOB), BOB, f"/link {guess}")
    assert "Too many wrong codes" in await say(fake, private_chat(BOB), BOB, f"/link {code}")
    assert await runtime.memory.linked(("telegram", str(ALICE["id"]))) == []
    runtime.memory.clock = lambda: utcnow() + timedelta(minutes=11)
    assert "Too many" not in await say(fake, private_chat(BOB), BOB, f"/link {code}")
