"""Every backend recipe in docs/llm-backends.md works as written: the YAML is read from the page
itself, its base_url pointed at a local fake OpenAI-compatible server, and a reply streams back."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.config import OpenAIBackend, load_settings
from anima.core.messages import ChatMessage
from anima.llm.base import GenerationRequest
from anima.llm.router import LLMRouter
from tests.fakes.openai_server import FakeOpenAI

PAGE = Path(__file__).resolve().parents[2] / "docs" / "llm-backends.md"
RECIPES = ["Ollama", "OpenRouter", "llama.cpp server", "vLLM"]
ENV = {"OPENROUTER_API_KEY": "sk-or-test-key"}  # what the reader exports; VLLM_API_KEY may stay unset


def recipe(name: str) -> str:
    """The ```yaml block under the page's `### name` heading."""
    section = PAGE.read_text().split(f"\n### {name}\n", 1)[1].split("\n#", 1)[0]
    return re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)  # type: ignore[union-attr]


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(reply="Evening, traveller. Tea?")
    await fake.start()
    yield fake
    await fake.stop()


def test_the_page_has_every_recipe() -> None:
    assert [name for name in RECIPES if f"\n### {name}\n" in PAGE.read_text()] == RECIPES


@pytest.mark.parametrize("name", RECIPES)
async def test_a_documented_recipe_streams_a_reply(name: str, server: FakeOpenAI, tmp_path: Path) -> None:
    text, replaced = re.subn(r"base_url: \S+", f"base_url: {server.base_url}", recipe(name))
    assert replaced == 1
    config = tmp_path / "config.yaml"
    config.write_text(text)
    settings = load_settings(config, env=ENV)
    spec = settings.llm.backends[settings.llm.default]
    assert isinstance(spec, OpenAIBackend) and spec.prompt_style == "auto"
    router = LLMRouter(settings.llm)
    backend = router.backend(settings.llm.default)
    request = GenerationRequest([ChatMessage("user", "Hello!")], max_tokens=32, temperature=0.7)
    server.chunk_delay_s = 0.01  # a model writing: its pieces come one by one
    try:
        pieces = [piece async for piece in backend.stream(request)]
    finally:
        await router.close()
    assert "".join(pieces) == "Evening, traveller. Tea?" and len(pieces) > 1
    assert server.requests[-1]["model"] == spec.model and server.requests[-1]["stream"] is True
    assert backend.prompt_style == "full"  # a server model gets the full prompt layout
