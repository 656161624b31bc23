"""Hearing fixtures: one whisper service per session (models load once), its models folder in tmp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.config import SttSettings
from anima.hearing import HearingService


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stt-models")


@pytest.fixture
async def whisper(models_dir: Path) -> AsyncIterator[HearingService]:
    pytest.importorskip("faster_whisper")
    service = HearingService(SttSettings(engine="whisper", model="tiny.en", models_dir=models_dir))
    yield service
    await service.close()
