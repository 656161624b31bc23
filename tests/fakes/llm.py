"""An instant, scriptable LLM backend for tests and benchmarks of everything around the model.

It implements the same LLMBackend protocol as the real backends; the real ones have their own
tests (the bundled model through llama.cpp, and the OpenAI client against tests/fakes/openai_server).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from anima.core.tokens import CachedCounter, TiktokenCounter
from anima.errors import LLMError
from anima.llm.base import GenerationRequest


def echo_reply(request: GenerationRequest) -> str:
    last_user = next(m.content for m in reversed(request.messages) if m.role == "user")
    return f"You said: {last_user}"


class InstantLLM:
    """Streams `reply(request)` word by word with no delay (or `delay_s` between pieces)."""

    def __init__(
        self,
        name: str = "embedded",
        reply: Callable[[GenerationRequest], str] = echo_reply,
        context_window: int = 4096,
        max_tokens: int = 200,
        delay_s: float = 0.0,
        vision: bool = False,
    ) -> None:
        self.name = name
        self.reply = reply
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.temperature = 0.7
        self.timeout_s = 30.0
        self.max_concurrency = 64
        self.prompt_style = "full"
        self.vision = vision
        self.delay_s = delay_s
        self.counter = CachedCounter(TiktokenCounter())
        self.requests: list[GenerationRequest] = []
        self.fail_with: str | None = None  # set to make every call fail with LLMError
        self.gate: asyncio.Event | None = None  # when set to an Event, every call waits for it to open

    async def start(self) -> None:
        return None

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        self.requests.append(request)
        if self.fail_with:
            raise LLMError(self.fail_with)
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), timeout=30)
        words = self.reply(request).split(" ")
        for i, word in enumerate(words):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield word if i == 0 else " " + word

    async def close(self) -> None:
        return None
