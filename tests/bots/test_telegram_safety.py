"""/safety on Telegram: a group's administrators make the character stricter there, and only there."""

from __future__ import annotations

from anima.bots.telegram import TelegramAdapter
from anima.characters.macros import expand
from anima.safety.checks.harm import DEFAULT_REFUSAL
from tests.bots.test_telegram import ALICE, BOB, GROUP, say
from tests.fakes.telegram_server import FakeBot, group_chat, private_chat

OTHER_GROUP = group_chat(-1009876543210, "Chess club")


def refusal(user: str) -> str:
    return expand(DEFAULT_REFUSAL, {"char": "Aiko", "user": user})


async def test_an_admins_blocked_topic_is_declined_in_that_group_only(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.make_admin(GROUP, ALICE)
    await say(fake, GROUP, ALICE, "/safety rating teen")
    assert "blocked here now" in await say(fake, GROUP, ALICE, "/safety block football")
    assert await say(fake, GROUP, BOB, "@aiko_bot who won the football?") == refusal("Bob")
    answer = await say(fake, OTHER_GROUP, BOB, "@aiko_bot who won the football?")
    assert answer == "You said: who won the football?"


async def test_the_group_owner_may_change_the_settings(adapter: TelegramAdapter, fake: FakeBot) -> None:
    fake.make_admin(GROUP, ALICE, status="creator")
    assert "blocked here now" in await say(fake, GROUP, ALICE, "/safety block football")


async def test_a_member_who_is_not_an_admin_is_refused_and_nothing_changes(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    assert "administrators" in await say(fake, GROUP, BOB, "/safety block football")
    answer = await say(fake, GROUP, BOB, "@aiko_bot who won the football?")
    assert answer == "You said: who won the football?"
    assert "extra blocked topics: none" in await say(fake, GROUP, BOB, "/safety")


async def test_in_a_private_chat_the_person_sets_their_own_override(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    chat = private_chat(ALICE)
    await say(fake, chat, ALICE, "/safety block football")
    assert await say(fake, chat, ALICE, "who won the football?") == refusal("Alice")
    assert not fake.calls_to("getChatMember")


async def test_reset_restores_the_cards_own_settings(adapter: TelegramAdapter, fake: FakeBot) -> None:
    fake.make_admin(GROUP, ALICE)
    await say(fake, GROUP, ALICE, "/safety block football")
    await say(fake, GROUP, ALICE, "/safety reset")
    answer = await say(fake, GROUP, BOB, "@aiko_bot who won the football?")
    assert answer == "You said: who won the football?"


async def test_show_lists_the_effective_rating_the_cards_and_the_override(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.make_admin(GROUP, ALICE)
    await say(fake, GROUP, ALICE, "/character grimble")  # rated teen on its card
    await say(fake, GROUP, ALICE, "/safety rating general")
    await say(fake, GROUP, ALICE, "/safety block football")
    shown = await say(fake, GROUP, BOB, "/safety")
    assert "Safety for Grimble here: rating general; blocked topics: football." in shown
    assert "From Grimble's card: rating teen" in shown
    assert "Set by admins here: rating general; extra blocked topics: football." in shown


async def test_a_rating_looser_than_the_cards_is_explained_and_not_applied(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.make_admin(GROUP, ALICE)
    note = await say(fake, GROUP, ALICE, "/safety rating teen")  # Aiko's card says general
    assert "would loosen Aiko" in note and "stricter" in note
    assert "Safety for Aiko here: rating general" in await say(fake, GROUP, ALICE, "/safety")


async def test_mature_is_refused_as_an_override(adapter: TelegramAdapter, fake: FakeBot) -> None:
    fake.make_admin(GROUP, ALICE)
    assert "only make characters stricter" in await say(fake, GROUP, ALICE, "/safety rating mature")
