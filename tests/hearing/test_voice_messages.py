"""Voice messages through the conversation service and the commands, on the neutral fake surface:
answered as if typed, stored, in voice when reply_to_voice is on; bad recordings get one clear line."""

from __future__ import annotations

from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.bots.console import ConsoleChat
from anima.commands import Context
from anima.core.messages import Attachment, Incoming
from tests.fakes.llm import InstantLLM
from tests.fakes.surface import FakeSurface
from tests.hearing.sounds import EIGHT, heard_tempo, hum, ogg, speech

pytest.importorskip("faster_whisper")

SAID = "Please remember that my cat is called Pepper."
VOICE = Attachment("voice", url="voice-1", name="voice.ogg", mime_type="audio/ogg")


def spoken(surface: FakeSurface, data: bytes) -> Incoming:
    surface.files[VOICE.url] = data
    return Incoming(surface.platform, surface.chat_id, surface.user_id, surface.display_name, "",
                    message_id="m1", attachments=(VOICE,))  # fmt: skip


async def run(
    runtime: Runtime, surface: FakeSurface, line: str, attachments: tuple[Attachment, ...] = ()
) -> None:
    name, _, args = line[1:].partition(" ")
    card = runtime.characters.get("aiko")
    await runtime.commands.run(
        name, Context(runtime.commands, surface, card, args, attachments, default="aiko")
    )


async def test_a_voice_message_is_answered_as_if_typed_and_in_voice(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    surface = FakeSurface()
    reply = await runtime.conversations.handle(spoken(surface, ogg(speech(SAID))), surface)
    assert reply is not None and "pepper" in reply.text.lower() and reply.text.startswith("You said: ")
    assert [s.kind for s in surface.shown] == ["reply", "voice"]  # reply_to_voice, without /voice on
    assert len(instant_llm.requests) == 1


async def test_what_was_heard_is_stored_and_memory_shows_it(runtime: Runtime) -> None:
    surface = FakeSurface()
    await runtime.conversations.handle(spoken(surface, ogg(speech(SAID))), surface)
    before = len(surface.shown)
    await run(runtime, surface, "/memory")
    assert "pepper" in surface.shown[before].text.lower()


async def test_echo_shows_what_was_heard_before_the_answer(runtime: Runtime) -> None:
    runtime.hearing.settings.echo = True
    surface = FakeSurface()
    await runtime.conversations.handle(spoken(surface, ogg(speech(SAID))), surface)
    assert surface.shown[0].kind == "text" and surface.shown[0].text.lower().startswith("🎤 heard: please")


async def test_with_reply_to_voice_off_a_voice_message_gets_text(runtime: Runtime) -> None:
    runtime.conversations.listener.reply_in_voice = False  # type: ignore[union-attr]
    surface = FakeSurface()
    await runtime.conversations.handle(spoken(surface, ogg(speech(SAID))), surface)
    assert [s.kind for s in surface.shown] == ["reply"]


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"not a recording at all", "the file is not audio that can be read."),
        (ogg(hum(EIGHT)), "no words could be made out in it."),
        (b"\0" * 21_000_000, "voice.ogg is 21,000,000 bytes; at most 20,000,000."),
    ],
    ids=["not-audio", "no-words", "too-large"],
)
async def test_a_recording_that_cannot_be_heard_gets_one_line_and_no_model_call(
    runtime: Runtime, instant_llm: InstantLLM, data: bytes, line: str
) -> None:
    surface = FakeSurface()
    assert await runtime.conversations.handle(spoken(surface, data), surface) is None
    assert surface.texts() == [f"🎤 Aiko couldn't listen to your voice message: {line}"]
    assert instant_llm.requests == []


async def test_sing_with_a_hummed_voice_note_sings_the_lyrics_on_its_tune(runtime: Runtime) -> None:
    surface = FakeSurface(files={VOICE.url: ogg(hum(EIGHT))})
    await run(runtime, surface, "/sing row your boat", (VOICE,))
    heard, song = surface.shown
    assert heard_tempo(heard.text) == pytest.approx(100, abs=1.5)  # Opus's encoder moves onsets a little
    assert "C4 D4/2 E4/2 G4 A4 G4/2 E4/2 D4*2 | row _ _ your _ boat _ _" in heard.text
    assert heard.text.endswith("(3 syllables on 8 notes: 5 notes hold the syllable before (melisma))")
    assert song.kind == "voice" and song.text.startswith("🎤 Aiko sings your tune (")


async def test_sing_on_a_voice_note_without_lyrics_says_how(runtime: Runtime) -> None:
    surface = FakeSurface(files={VOICE.url: ogg(hum(EIGHT))})
    await run(runtime, surface, "/sing", (VOICE,))
    assert surface.texts()[0].startswith("Hum me the tune in a voice note and write the words")


async def test_the_terminal_listens_to_a_file_named_with_listen(runtime: Runtime, tmp_path: Path) -> None:
    clip = tmp_path / "message.ogg"
    clip.write_bytes(ogg(speech(SAID)))
    out, err = StringIO(), StringIO()
    chat = ConsoleChat(runtime, "aiko", "lin", out=out, err=err)
    await chat.command(f"/listen {clip}")
    assert out.getvalue().startswith("Aiko: You said: ") and "pepper" in out.getvalue().lower()
    assert "[voice: " in err.getvalue()  # answered in voice too


async def test_a_resumed_copy_is_heard_like_the_first(runtime: Runtime) -> None:
    surface = FakeSurface()
    message = replace(spoken(surface, ogg(speech(SAID))), message_id="m2")
    reply = await runtime.conversations.handle(message, surface)
    assert reply is not None and "pepper" in reply.text.lower()
