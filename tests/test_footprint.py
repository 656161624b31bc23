"""Footprint: a runtime imports only what its config uses.

Each case builds the runtime and its adapters in a fresh interpreter (this one has imported
everything by now), answers one text message, and reports which heavy libraries are loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("discord", "telegram", "pyworld", "llama_cpp", "faster_whisper", "openai", "soundfile", "soxr")
HEAVY += ("tiktoken", "tokenizers", "PIL")  # token counts and the static encoder need neither library
PROBE = """
import asyncio, json, sys
from anima.app import Runtime
from anima.bots.service import build_adapters
from anima.config import BotsSettings, MemorySettings, Settings
from anima.core.messages import Incoming
from tests.fakes.llm import InstantLLM

async def main(platform, db):
    bot = {"token": "123:abc", "character": "aiko"}
    settings = Settings(
        characters_dir="characters", default_character="aiko",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{db}"),
        bots=BotsSettings(**{platform: [bot]}),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", InstantLLM())
    build_adapters(runtime)
    reply = await runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "hello there"))
    assert reply is not None and reply.text == "You said: hello there"
    await runtime.close()
    print(json.dumps([name for name in HEAVY if name in sys.modules]))

HEAVY = %r
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def loaded_after_a_text_chat(platform: str, tmp_path: Path) -> set[str]:
    probe = PROBE % (HEAVY,)
    done = subprocess.run(
        [sys.executable, "-c", probe, platform, str(tmp_path / "anima.db")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("platform", "other"), [("telegram", "discord"), ("discord", "telegram")])
def test_a_one_platform_text_chat_loads_neither_the_other_platform_nor_singing_nor_local_models(
    platform: str, other: str, tmp_path: Path
) -> None:
    loaded = loaded_after_a_text_chat(platform, tmp_path)
    assert platform in loaded  # the probe sees an import when there is one
    assert loaded.isdisjoint(
        {
            other,
            "pyworld",
            "llama_cpp",
            "faster_whisper",
            "openai",
            "soundfile",
            "soxr",
            "tiktoken",
            "tokenizers",
            "PIL",
        }
    ), loaded
