"""Which backend serves which character, in what fallback order, under what concurrency and time limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing

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

    async def generate(
        self, backend: LLMBackend, request: GenerationRequest, on_piece: Callable[[str], Awaitable[None]]
    ) -> None:
        """Stream one reply from one backend into `on_piece`, inside the concurrency limits.

        One deadline covers the stream: first the first-token limit, then (rescheduled once) the
        whole-reply limit. It is one timer per reply rather than one per piece, which at hundreds
        of pieces per reply is the difference between microseconds and milliseconds of CPU.
        """
        slots = self._backend_slots.setdefault(backend.name, asyncio.Semaphore(backend.max_concurrency))
        async with self._global_slots, slots:
            await backend.start()
            started = asyncio.get_running_loop().time()
            first_token_at = started + min(FIRST_TOKEN_TIMEOUT_S, backend.timeout_s)
            waiting_for_first = True
            try:
                async with (
                    asyncio.timeout_at(first_token_at) as deadline,
                    aclosing(backend.stream(request)) as pieces,
                ):
                    async for piece in pieces:
                        if waiting_for_first:
                            waiting_for_first = False
                            deadline.reschedule(started + backend.timeout_s)
                        await on_piece(piece)
            except TimeoutError:
                if waiting_for_first:
                    raise LLMError(
                        f"{backend.name} sent no first token within {first_token_at - started:.0f} s"
                    ) from None
                raise LLMError(
                    f"{backend.name} did not finish its reply within {backend.timeout_s:.0f} s"
                ) from None

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
