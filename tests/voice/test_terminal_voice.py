"""Voice in the terminal: `/voice on` in `anima chat` writes a note per reply; `anima say` writes one."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.bots.console import ConsoleChat
from anima.cli import main
from anima.config import Settings, VoiceSettings
from anima.core.surface import VoiceNote
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM
from tests.voice.conftest import decode


@pytest.fixture
async def runtime(settings: Settings, instant_llm: InstantLLM, tmp_path: Path) -> AsyncIterator[Runtime]:
    voice = VoiceSettings(cache_dir=tmp_path / "cache", notes_dir=tmp_path / "notes")
    rt = await Runtime.start(settings.model_copy(update={"voice": voice}))
    rt.router.register("embedded", instant_llm)
    yield rt
    await rt.close()


def chat(runtime: Runtime, character: str = "aiko") -> ConsoleChat:
    return ConsoleChat(runtime, character, "lin", out=io.StringIO(), err=io.StringIO())


def read_note(path: Path) -> VoiceNote:
    return VoiceNote(path.read_bytes(), 0.0, "")


async def test_with_voice_on_each_reply_is_written_as_a_playable_ogg(
    runtime: Runtime, tmp_path: Path
) -> None:
    console = chat(runtime)
    await console.command("/voice on")
    await console.say("Tell me about your tea.")
    [path] = console.notes_written
    assert path.parent == tmp_path / "notes" and path.suffix == ".ogg"
    audio = decode(read_note(path))
    assert (audio.container, audio.codec, audio.sample_rate) == ("OGG", "OPUS", 48000)
    assert audio.rms > 0.03
    assert str(path) in console.err.getvalue()  # type: ignore[attr-defined]


async def test_with_voice_off_no_file_is_written(runtime: Runtime, tmp_path: Path) -> None:
    console = chat(runtime)
    await console.command("/voice on")
    await console.command("/voice off")
    await console.say("Hello!")
    assert console.notes_written == [] and not (tmp_path / "notes").exists()


async def test_the_voice_setting_is_remembered_for_the_next_chat(runtime: Runtime) -> None:
    await chat(runtime).command("/voice on")
    later = chat(runtime)
    await later.say("Hello again!")
    assert len(later.notes_written) == 1


async def test_a_voice_failure_keeps_the_text_reply(
    runtime: Runtime, instant_llm: InstantLLM, caplog: pytest.LogCaptureFixture
) -> None:
    instant_llm.reply = lambda _request: "🎉🎉🎉"  # nothing a voice can say
    console = chat(runtime)
    await console.command("/voice on")
    reply = await console.say("Celebrate!")
    assert reply is not None and reply.text == "🎉🎉🎉"
    assert "🎉🎉🎉" in console.out.getvalue()  # type: ignore[attr-defined]
    assert console.notes_written == []
    assert "no voice note" in caplog.text  # logged to the terminal's stderr


def test_anima_say_writes_an_ogg_opus_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"characters_dir: {REPO / 'characters'}\nvoice:\n  cache_dir: {tmp_path / 'cache'}\n")
    out = tmp_path / "hello.ogg"
    assert main(["--config", str(config), "say", "xingyao", "你好！I'm Xingyao.", "-o", str(out)]) == 0
    audio = decode(read_note(out))
    assert (audio.container, audio.codec, audio.sample_rate, audio.channels) == ("OGG", "OPUS", 48000, 1)
    assert audio.duration_s > 1.0 and audio.rms > 0.03
    assert str(out) in capsys.readouterr().out
