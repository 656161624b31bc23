"""Hearing fixtures: the models folder (assembled once per session), a whisper service, and settings
for a runtime that hears on the fast English model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.config import MemorySettings, Settings, SttSettings, VoiceSettings
from anima.hearing import HearingService
from tests.conftest import NO_GATHERING, REPO


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stt-models")


@pytest.fixture
async def whisper(models_dir: Path) -> AsyncIterator[HearingService]:
    pytest.importorskip("faster_whisper")
    service = HearingService(SttSettings(engine="whisper", model="tiny.en", models_dir=models_dir))
    yield service
    await service.close()


@pytest.fixture
def settings(tmp_path: Path, models_dir: Path) -> Settings:
    """The repo's cards on a fresh SQLite file, hearing on the fast English model."""
    return Settings(
        conversation=NO_GATHERING,
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db"),
        stt=SttSettings(model="tiny.en", models_dir=models_dir),
        voice=VoiceSettings(cache_dir=tmp_path / "voice-cache", notes_dir=tmp_path / "voice-notes"),
    )
