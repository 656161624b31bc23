"""Shared fixtures: real SQLite files in tmp_path, the repo's cards, and the instant LLM backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.config import ConversationSettings, MemorySettings, Settings
from tests.fakes.llm import InstantLLM

REPO = Path(__file__).resolve().parent.parent
# Each message answered alone, at once: the tests of bursts (tests/test_bursts.py) set a window.
NO_GATHERING = ConversationSettings(coalesce_ms=0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db"),
        conversation=NO_GATHERING,
    )


@pytest.fixture
def instant_llm() -> InstantLLM:
    return InstantLLM()


@pytest.fixture
async def runtime(settings: Settings, instant_llm: InstantLLM) -> AsyncIterator[Runtime]:
    """A started runtime whose default backend ("embedded") is the instant fake."""
    rt = await Runtime.start(settings)
    rt.router.register("embedded", instant_llm)
    yield rt
    await rt.close()
