"""Every chat command, once, as a person would see it in any chat (the neutral fake surface)."""

from __future__ import annotations

from anima.app import Runtime
from anima.commands import COMMANDS, Context, help_text, parse
from anima.core.messages import Attachment, Incoming
from tests.fakes.surface import FakeSurface


async def run(
    runtime: Runtime, surface: FakeSurface, line: str, attachments: tuple[Attachment, ...] = ()
) -> str:
    """Run `line` ("/memory") in `surface`; the texts it showed, joined."""
    name, _, args = line[1:].partition(" ")
    card = runtime.characters.get(surface.character_id or "aiko")
    ctx = Context(runtime.commands, surface, card, args, attachments, default="aiko")
    before = len(surface.shown)
    await runtime.commands.run(name, ctx)
    surface.character_id = ctx.card.id
    return "\n".join(s.text for s in surface.shown[before:])


async def say(runtime: Runtime, surface: FakeSurface, text: str) -> None:
    message = Incoming(surface.platform, surface.chat_id, surface.user_id, surface.display_name, text)
    await runtime.conversations.handle(message, surface)


def test_help_lists_every_command_of_the_table() -> None:
    text = help_text()
    assert all(f"/{command.name}" in text for command in COMMANDS)


async def test_about_tells_name_persona_voice_and_rating(runtime: Runtime) -> None:
    text = await run(runtime, FakeSurface(), "/about")
    first, voice, rating = text.splitlines()
    assert first.startswith("Aiko (aiko): ") and len(first) > 30
    assert voice.startswith("Voice: espeak") and rating == "Rating: general."


async def test_memory_shows_what_was_said(runtime: Runtime) -> None:
    surface = FakeSurface()
    await say(runtime, surface, "My cat is called Miso.")
    text = await run(runtime, surface, "/memory")
    assert "Aiko has known you since" in text and "Lin: My cat is called Miso." in text
    assert surface.last().private


async def test_reset_starts_afresh_and_greets(runtime: Runtime) -> None:
    surface = FakeSurface()
    await say(runtime, surface, "hello")
    text = await run(runtime, surface, "/reset")
    assert text.startswith("Aiko starts afresh with you here.")
    assert "1 in the current conversation" in await run(runtime, surface, "/memory")  # the greeting


async def test_forget_asks_first_and_deletes_on_yes(runtime: Runtime) -> None:
    surface = FakeSurface()
    await say(runtime, surface, "remember me")
    await run(runtime, surface, "/forget")
    assert [b.command for b in surface.last().buttons] == ["/forget yes", "/forget no"]
    assert await run(runtime, surface, "/forget no") == "Nothing was deleted."
    assert (await run(runtime, surface, "/forget yes")).startswith("Done: 2 messages")
    assert "0 messages stored" in await run(runtime, surface, "/memory")


async def test_character_lists_buttons_and_binds_in_a_private_chat(runtime: Runtime) -> None:
    surface = FakeSurface()
    await run(runtime, surface, "/character")
    assert "/character grimble" in [b.command for b in surface.last().buttons]
    assert "Forge is hot" in await run(runtime, surface, "/character grimble")  # Grimble's greeting
    await say(runtime, surface, "hi")
    assert surface.replies[-1].character_name == "Grimble"


async def test_in_a_group_only_its_admins_choose_the_character(runtime: Runtime) -> None:
    surface = FakeSurface(kind="group")
    assert "Only this chat's admins" in await run(runtime, surface, "/character grimble")
    surface.chat_admin = True
    assert "Forge is hot" in await run(runtime, surface, "/character grimble")


async def test_voice_on_makes_the_next_reply_a_voice_note_too(runtime: Runtime) -> None:
    surface = FakeSurface()
    assert "Voice replies are on" in await run(runtime, surface, "/voice on")
    await say(runtime, surface, "Tell me about tea.")
    assert [s.kind for s in surface.shown[-2:]] == ["reply", "voice"]
    assert surface.shown[-1].data.startswith(b"OggS")


async def test_a_persona_is_how_characters_see_the_person(runtime: Runtime) -> None:
    surface = FakeSurface()
    assert "Characters now know you as Captain" in await run(runtime, surface, "/persona Captain: a sailor")
    assert await run(runtime, surface, "/persona") == "Captain: a sailor"
    await say(runtime, surface, "ahoy")
    request = runtime.router.chain(runtime.characters.get("aiko"))[0].requests[-1]  # type: ignore[attr-defined]  # the fake LLM
    assert "a sailor" in request.messages[0].content
    await run(runtime, surface, "/persona clear")
    assert "You have no persona" in await run(runtime, surface, "/persona")


async def test_safety_changes_need_a_chat_admin_in_a_group(runtime: Runtime) -> None:
    surface = FakeSurface(kind="group")
    assert "Only this chat's administrators" in await run(runtime, surface, "/safety block football")
    surface.chat_admin = True
    await run(runtime, surface, "/safety block football")
    assert "football" in await run(runtime, surface, "/safety")


async def test_soul_is_for_bot_admins_and_private_chats(runtime: Runtime) -> None:
    assert "Only this bot's admins" in await run(runtime, FakeSurface(), "/soul")
    assert "private chat" in await run(runtime, FakeSurface(kind="group", bot_admin=True), "/soul")
    assert "Aiko" in await run(runtime, FakeSurface(bot_admin=True), "/soul")


async def test_sing_without_notes_explains_how(runtime: Runtime) -> None:
    assert "Write the notes, then the lyrics" in await run(runtime, FakeSurface(), "/sing")


async def test_sing_answers_with_a_voice_note(runtime: Runtime) -> None:
    surface = FakeSurface()
    await run(runtime, surface, "/sing tempo=120 | C4 D4 E4 | la la la")
    assert surface.last().kind == "voice" and surface.last().data.startswith(b"OggS")
    assert "recording" in surface.actions


async def test_a_score_file_over_the_cap_is_not_fetched(runtime: Runtime) -> None:
    surface = FakeSurface(files={"big": b"x" * (2 * 1024 * 1024)})
    score = Attachment("file", url="big", name="song.mid")
    assert "I cannot sing that: song.mid is 2,097,152 bytes" in await run(runtime, surface, "/sing", (score,))


async def test_an_unknown_command_says_where_to_look(runtime: Runtime) -> None:
    assert "/help lists what I understand" in await run(runtime, FakeSurface(), "/frobnicate")


async def test_memory_why_shows_what_the_reply_used_and_forget_and_pin_act_on_one_item(
    runtime: Runtime,
) -> None:
    surface = FakeSurface()
    await say(runtime, surface, "My cat is called Miso.")
    await runtime.pipeline.keeper.drain()  # the rule fact is learned in the background
    await say(runtime, surface, "What is my cat called?")
    why = await run(runtime, surface, "/memory why")
    fact = next(line for line in why.splitlines() if "cat" in line and "Miso" in line and "#" in line)
    number = fact.split("#", 1)[1].split()[0]
    assert why.startswith("What Aiko recalled for the latest reply (") and surface.last().private

    listed = await run(runtime, surface, "/memory")
    assert f"#{number} Lin" in listed
    assert (await run(runtime, surface, f"/memory forget {number}")).startswith(f"Aiko forgot #{number}:")
    assert f"#{number} " not in await run(runtime, surface, "/memory")
    assert f"#{number} " not in await run(runtime, surface, "/memory why")

    message = next(line for line in listed.splitlines() if "What is my cat called?" in line)
    other = message.split("#", 1)[1].split()[0]
    assert "keep" in await run(runtime, surface, f"/memory pin {other}")
    after = (await run(runtime, surface, "/memory")).splitlines()
    pinned = next(line for line in after if f"#{other} " in line)
    assert pinned.endswith("(pinned)")
    assert "No memory #999999" in await run(runtime, surface, "/memory forget 999999")
    assert "Usage" in await run(runtime, surface, "/memory forget everything")


def test_a_command_line_for_another_bot_is_not_this_bots() -> None:
    assert parse("/sing@Aiko_bot tempo=96 | C4") == ("sing", "tempo=96 | C4")
    assert parse("/sing@aiko_bot tempo=96", bot="AIKO_BOT") == ("sing", "tempo=96")
    assert parse("/help", bot="aiko_bot") == ("help", "")
    assert parse("/help@other_bot", bot="aiko_bot") is None
    assert parse("hello /help", bot="aiko_bot") is None
