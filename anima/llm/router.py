"""Which backend serves which character, in what fallback order, under what concurrency and time limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from anima.characters.card import CharacterCard
from anima.config import EmbeddedBackend, LLMSettings
from anima.errors import ConfigError, LLMError
from anima.llm.base import GenerationRequest, LLMBackend

Progress = Callable[[str], None]
FIRST_TOKEN_TIMEOUT_S = 60.0


class LLMRouter:
    """Builds each configured backend once, on first use, and streams with limits applied."""

    def __init__(self, settings: LLMSettings, progress: Progress | None = None) -> None:
        self.settings = settings
        self._progress = progress
        self._backends: dict[str, LLMBackend] = {}
        self._global_slots = asyncio.Semaphore(settings.max_concurrency)
        self._backend_slots: dict[str, asyncio.Semaphore] = {}

    def register(self, name: str, backend: LLMBackend) -> None:
        """Use a ready-made backend under `name` (tests, embedding Anima in another program)."""
        self._backends[name] = backend

    def backend(self, name: str) -> LLMBackend:
        if name not in self._backends:
            spec = self.settings.backends.get(name)
            if spec is None:
                raise ConfigError([f"llm backend {name!r} is not defined under llm.backends"])
            if isinstance(spec, EmbeddedBackend):
                from anima.llm.embedded import EmbeddedLLM

                self._backends[name] = EmbeddedLLM(name, spec, self._progress)
            else:
                from anima.llm.openai_backend import OpenAILLM

                self._backends[name] = OpenAILLM(name, spec)
        return self._backends[name]

    def chain(self, card: CharacterCard) -> list[LLMBackend]:
        """The card's backend (or the default), then the configured fallbacks, each once."""
        names = [card.llm.backend or self.settings.default, *self.settings.fallbacks]
        return [self.backend(name) for name in dict.fromkeys(names)]

    def request(
        self, backend: LLMBackend, card: CharacterCard, messages: list, stop: list[str]
    ) -> GenerationRequest:
        return GenerationRequest(
            messages=messages,
            max_tokens=self.max_tokens(backend, card),
            temperature=card.llm.temperature if card.llm.temperature is not None else backend.temperature,
            top_p=card.llm.top_p,
            stop=[*card.llm.stop, *stop],
            model=card.llm.model,
        )

    @staticmethod
    def max_tokens(backend: LLMBackend, card: CharacterCard) -> int:
        return min(card.llm.max_tokens or backend.max_tokens, backend.context_window // 2)

    async def stream(self, backend: LLMBackend, request: GenerationRequest) -> AsyncIterator[str]:
        """Stream from one backend inside the global and per-backend concurrency limits."""
        slots = self._backend_slots.setdefault(backend.name, asyncio.Semaphore(backend.max_concurrency))
        async with self._global_slots, slots:
            await backend.start()
            started = asyncio.get_running_loop().time()
            deadline = started + backend.timeout_s
            first_deadline = started + min(FIRST_TOKEN_TIMEOUT_S, backend.timeout_s)
            pieces = backend.stream(request)
            try:
                first = True
                while True:
                    try:
                        async with asyncio.timeout_at(first_deadline if first else deadline):
                            piece = await anext(pieces)
                    except StopAsyncIteration:
                        return
                    except TimeoutError:
                        what = "sent no first token" if first else "did not finish its reply"
                        limit = first_deadline if first else deadline
                        raise LLMError(f"{backend.name} {what} in time ({limit - started:.0f} s)") from None
                    first = False
                    yield piece
            finally:
                await pieces.aclose()

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
