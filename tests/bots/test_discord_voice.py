"""Voice on Discord: after /voice on the character also answers with a native voice message."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import soundfile

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.config import OpenAIVoiceSettings, Settings, VoiceSettings
from tests.bots.test_discord import World, command_reply, replies, settled, start_bot
from tests.fakes.discord_server import BOT_PERMISSIONS, IS_VOICE_MESSAGE, SEND_VOICE_MESSAGES
from tests.fakes.llm import InstantLLM

REPLY = "Hello there, my friend! The cherry blossoms are out by the river."


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.voice = VoiceSettings(cache_dir=tmp_path / "voice-cache", notes_dir=tmp_path / "voice-notes")
    return settings


def voice_mode(runtime: Runtime, mode: str) -> None:
    """Aiko's card with `voice.mode` changed, as if its file had been edited (hot reload)."""
    aiko = runtime.characters.get("aiko")
    changed = aiko.model_copy(update={"voice": aiko.voice.model_copy(update={"mode": mode})})
    changed.id = aiko.id
    runtime.characters.cards["aiko"] = changed


async def voice_on(world: World, channel: str, user: dict[str, Any] | None = None) -> None:
    user = user or world.alice
    await command_reply(world, await world.fake.slash(channel, user, "voice", {"args": "on"}))


def with_files(world: World, channel: str) -> list[dict[str, Any]]:
    return [m for m in world.fake.bot_messages(channel) if m["attachments"]]


async def voice_note(world: World, channel: str) -> dict[str, Any]:
    """The bot's first message in `channel` that carries a file, once there is one."""
    await world.fake.wait_until(lambda: with_files(world, channel), within_s=20)
    return with_files(world, channel)[0]


def voice_message_posts(world: World) -> list[Any]:
    return [b for b in world.fake.sent_bodies() if b.get("flags", 0) & IS_VOICE_MESSAGE]


async def test_with_voice_on_the_reply_also_arrives_as_a_native_voice_message(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = lambda request: REPLY
    await voice_on(world, world.alice_dm)
    await world.fake.say(world.alice_dm, world.alice, "how is the weather?")
    note = await voice_note(world, world.alice_dm)

    assert note["flags"] == IS_VOICE_MESSAGE
    assert note["content"] == ""
    [attachment] = note["attachments"]
    assert attachment["content_type"] == "audio/ogg"
    info = soundfile.info(io.BytesIO(world.fake.file_bytes(attachment)))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", 48000, 1)
    assert attachment["duration_secs"] == pytest.approx(info.duration, abs=0.05)
    assert 0 < len(base64.b64decode(attachment["waveform"])) <= 256


async def test_the_voice_message_is_uploaded_as_discord_clients_upload_one(
    bot: DiscordAdapter, world: World
) -> None:
    await voice_on(world, world.alice_dm)
    await world.fake.say(world.alice_dm, world.alice, "hello")
    await voice_note(world, world.alice_dm)
    [call] = [c for c in world.fake.calls if c.files]
    [upload] = call.files
    assert (upload.field, upload.filename, upload.content_type) == (
        "files[0]",
        "voice-message.ogg",
        "audio/ogg",
    )
    assert call.body["allowed_mentions"] == {"parse": []}
    assert "content" not in call.body


async def test_the_voice_message_follows_the_text_reply(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = lambda request: REPLY
    await voice_on(world, world.alice_dm)
    await world.fake.say(world.alice_dm, world.alice, "how is the weather?")
    await voice_note(world, world.alice_dm)
    text, voice = world.fake.bot_messages(world.alice_dm)
    assert (text["content"], text["attachments"]) == (REPLY, [])
    assert voice["flags"] == IS_VOICE_MESSAGE


async def test_a_voice_message_in_a_server_replies_to_the_message_it_answers(
    bot: DiscordAdapter, world: World
) -> None:
    await voice_on(world, world.general)
    asked = await world.fake.say(world.general, world.alice, "hello", mention_bot=True)
    note = await voice_note(world, world.general)
    assert note["flags"] == IS_VOICE_MESSAGE
    assert note["message_reference"]["message_id"] == asked["id"]


async def test_with_voice_off_no_voice_note_is_sent(bot: DiscordAdapter, world: World) -> None:
    await world.fake.say(world.alice_dm, world.alice, "hello")
    await world.fake.say(world.alice_dm, world.alice, "hello again")
    await replies(world, world.alice_dm, 2)
    await bot.stop()  # whatever was still being answered is now delivered
    assert with_files(world, world.alice_dm) == []


async def test_voice_on_is_per_person(bot: DiscordAdapter, world: World) -> None:
    await voice_on(world, world.general)
    await world.fake.say(world.general, world.bob, "hello", mention_bot=True)
    await replies(world, world.general)
    await bot.stop()  # whatever was still being answered is now delivered
    assert with_files(world, world.general) == []


async def test_without_the_send_voice_messages_permission_the_note_arrives_as_an_ogg_file(
    runtime: Runtime, world: World
) -> None:
    muted = world.fake.add_guild("Muted", bot_permissions=BOT_PERMISSIONS & ~SEND_VOICE_MESSAGES)
    channel = world.fake.add_channel(muted, "no-voice")
    adapter = await start_bot(runtime, world.fake)
    try:
        await voice_on(world, channel)
        await world.fake.say(channel, world.alice, "hello", mention_bot=True)
        note = await voice_note(world, channel)
    finally:
        await adapter.stop()
    assert note["flags"] == 0
    [attachment] = note["attachments"]
    assert (attachment["filename"], attachment["content_type"]) == ("voice-message.ogg", "audio/ogg")
    assert voice_message_posts(world) == []  # known from the permissions: no request to be refused


async def test_when_discord_refuses_the_voice_message_the_note_arrives_as_an_ogg_file(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    voice_mode(runtime, "voice")  # the voice message is the first thing posted
    await voice_on(world, world.alice_dm)
    world.fake.fail_next("POST", rf"/channels/{world.alice_dm}/messages", status=403, code=50013)
    await world.fake.say(world.alice_dm, world.alice, "hello")
    note = await voice_note(world, world.alice_dm)
    assert len(voice_message_posts(world)) == 1  # tried, and refused
    assert note["flags"] == 0
    [attachment] = note["attachments"]
    assert attachment["content_type"] == "audio/ogg"
    assert soundfile.info(io.BytesIO(world.fake.file_bytes(attachment))).format == "OGG"


async def test_in_voice_only_mode_the_reply_arrives_as_a_voice_message_alone(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    voice_mode(runtime, "voice")
    await voice_on(world, world.alice_dm)
    await world.fake.say(world.alice_dm, world.alice, "sing me something")
    await voice_note(world, world.alice_dm)
    await bot.stop()  # whatever was still being answered is now delivered
    [only] = world.fake.bot_messages(world.alice_dm)
    assert only["flags"] == IS_VOICE_MESSAGE


async def test_in_voice_only_mode_a_failed_reply_is_sent_as_text(
    bot: DiscordAdapter, world: World, runtime: Runtime, instant_llm: InstantLLM
) -> None:
    voice_mode(runtime, "voice")
    await voice_on(world, world.alice_dm)
    instant_llm.fail_with = "the model server is down"
    await world.fake.say(world.alice_dm, world.alice, "are you there?")
    [apology] = await replies(world, world.alice_dm)
    await bot.stop()  # whatever was still being answered is now delivered
    said, notice = apology["content"].split("\n")
    assert said.strip() and notice == "-# The character could not answer; your message was kept."
    assert apology["attachments"] == []
    assert voice_message_posts(world) == []


async def test_a_character_speaking_through_a_webhook_sends_its_note_as_a_file_under_its_name(
    bot: DiscordAdapter, world: World
) -> None:
    await voice_on(world, world.general)
    await world.fake.say(world.general, world.alice, "Grimble, hello", mention_bot=True)
    note = await voice_note(world, world.general)
    assert note["webhook_id"] and note["author"]["username"] == "Grimble"
    assert note["attachments"][0]["content_type"] == "audio/ogg"
    assert voice_message_posts(world) == []  # Execute Webhook cannot set IS_VOICE_MESSAGE


async def test_a_character_the_bot_speaks_for_sends_its_note_as_a_file_with_its_name(
    bot: DiscordAdapter, world: World
) -> None:
    await voice_on(world, world.quiet)
    await world.fake.say(world.quiet, world.alice, "Grimble, hello", mention_bot=True)
    note = await voice_note(world, world.quiet)
    assert note["content"] == "**Grimble**:"
    assert note["attachments"][0]["content_type"] == "audio/ogg"


@pytest.fixture
async def voiceless_runtime(
    settings: Settings, instant_llm: InstantLLM, unused_tcp_port: int
) -> AsyncIterator[Runtime]:
    """A runtime whose only voice engine is a speech server that is not there."""
    settings.voice = settings.voice.model_copy(
        update={
            "engines": ["openai"],
            "openai": OpenAIVoiceSettings(
                base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0, timeout_s=5
            ),
        }
    )
    rt = await Runtime.start(settings)
    rt.router.register("embedded", instant_llm)
    yield rt
    await rt.close()


async def test_when_synthesis_fails_in_voice_only_mode_the_text_still_arrives(
    voiceless_runtime: Runtime, world: World
) -> None:
    voice_mode(voiceless_runtime, "voice")
    adapter = await start_bot(voiceless_runtime, world.fake)
    try:
        await voice_on(world, world.alice_dm)
        await world.fake.say(world.alice_dm, world.alice, "hello?")
        await settled(world, world.alice_dm, ["You said: hello?"])
    finally:
        await adapter.stop()
    assert with_files(world, world.alice_dm) == []
