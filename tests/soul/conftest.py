"""Soul fixtures: a card that grows (a copy of Aiko with `growth:`), a runtime, and a scripted LLM.

The scripted LLM answers replies by echoing, and the proposer's review with the JSON a test queued:
each queued change names words to `cite`, and the script cites the ids of the transcript lines that
contain them, as a model reading the numbered transcript would.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from anima.app import Runtime
from anima.config import MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming
from anima.llm.base import GenerationRequest
from tests.conftest import NO_GATHERING, REPO
from tests.fakes.llm import InstantLLM, echo_reply

LIN = Incoming(platform="test", chat_id="dm-lin", user_id="lin", display_name="Lin", text="hi")
MEI = Incoming(platform="test", chat_id="dm-mei", user_id="mei", display_name="Mei", text="hi")
GROWTH = {"mode": "propose", "review_every": 2}


def say(text: str, who: Incoming = LIN) -> Incoming:
    return replace(who, text=text)


def is_review(request: GenerationRequest) -> bool:
    return request.messages[0].content.startswith("You are the inner life of")


@dataclass
class SoulScript:
    """What the proposer's LLM answers: queued answers, one per review (then no changes)."""

    answers: list[list[dict[str, Any]]] = field(default_factory=list)
    reviews: list[GenerationRequest] = field(default_factory=list)

    def queue(self, *changes: dict[str, Any]) -> None:
        self.answers.append(list(changes))

    def reply(self, request: GenerationRequest) -> str:
        if not is_review(request):
            return echo_reply(request)
        self.reviews.append(request)
        transcript = request.messages[-1].content
        changes = []
        for change in self.answers.pop(0) if self.answers else []:
            change = dict(change)
            cite = change.pop("cite", "")
            ids = [
                int(m[1])
                for m in re.finditer(r"^#(\d+)\b.*$", transcript, re.M)
                if cite in m[0] and " Aiko: " not in m[0]
            ]
            changes.append({"evidence": ids, "confidence": 0.9, **change})
        return json.dumps({"changes": changes})


def growing_card(directory: Path, growth: dict[str, Any]) -> Path:
    """Aiko with a `growth:` block, written as a card file in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    text = (REPO / "characters" / "aiko.yaml").read_text(encoding="utf-8")
    text += "growth:\n" + "".join(f"  {key}: {json.dumps(value)}\n" for key, value in growth.items())
    path = directory / "aiko.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def script() -> SoulScript:
    return SoulScript()


@pytest.fixture
def growth() -> dict[str, Any]:
    """The card's growth settings; a test overrides this fixture to change them."""
    return dict(GROWTH)


@pytest.fixture
def soul_settings(tmp_path: Path, growth: dict[str, Any]) -> Settings:
    growing_card(tmp_path / "characters", growth)
    return Settings(
        conversation=NO_GATHERING,
        characters_dir=tmp_path / "characters",
        reload_characters=False,
        default_character="aiko",
        memory=MemorySettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db", summarize_every=0, llm_facts_every=0
        ),
        safety=SafetySettings(flood_messages=1_000_000),
    )


@pytest.fixture
async def soul_runtime(soul_settings: Settings, script: SoulScript) -> AsyncIterator[Runtime]:
    rt = await Runtime.start(soul_settings)
    rt.router.register("embedded", InstantLLM(reply=script.reply))
    yield rt
    await rt.close()


async def talk(runtime: Runtime, *texts: str, who: Incoming = LIN) -> None:
    """Send `texts` one by one, then wait for the background work they started."""
    for text in texts:
        await runtime.pipeline.handle(say(text, who))
    await runtime.pipeline.keeper.drain(10)
