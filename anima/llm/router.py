"""Which backend serves which character, in what fallback order, under what limits, retries and breaker.

The one retry policy for LLM calls lives here (backends raise typed LLMErrors and never retry):
a retryable failure (5xx, 429, unreachable, no first token) is tried again on the same backend with
exponential backoff and full jitter, or after the server's Retry-After, but only before any piece of
the reply has been shown and only inside the reply's first-token deadline; past that the caller falls
back along the chain. A backend whose replies failed `breaker_failures` times in a row is skipped for
`breaker_cooldown_s`, so an outage costs each message an instant fallback instead of a full timeout.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass

from anima.characters.card import CharacterCard
from anima.config import EmbeddedBackend, LLMSettings, OpenAIBackend
from anima.core.messages import ChatMessage, OnPiece
from anima.errors import ConfigError, LLMError, LLMTimedOut, LLMUnavailable
from anima.llm.base import GenerationRequest, LLMBackend, Progress

log = logging.getLogger(__name__)


@dataclass
class RouterStats:
    """Counts since start, for benchmarks and metrics."""

    retries: int = 0  # attempts after a retryable failure, on the same backend
    skipped: int = 0  # calls refused at once because the backend's breaker was open
    failures: int = 0  # calls that ended in an LLMError (after their retries)


class Breaker:
    """Per backend: after `failures` failed calls in a row, refuse calls for `cooldown_s`.

    After the cooldown one call goes through as a probe while the others are still refused; its
    failure re-opens the breaker, its success closes it.
    """

    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float]) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._in_a_row: dict[str, int] = {}
        self._open_until: dict[str, float] = {}
        self._probing: set[str] = set()

    def skip_s(self, name: str) -> float:
        """Seconds the backend is still skipped for; 0: call it (after a cooldown, as the probe)."""
        if name not in self._open_until:
            return 0.0
        left = self._open_until[name] - self.clock()
        if left > 0:
            return left
        if name in self._probing:
            return self.cooldown_s  # at most: the probe decides sooner
        self._probing.add(name)
        return 0.0

    def open_s(self, name: str) -> float:
        """Seconds the backend's breaker stays open (0: closed, or its cooldown is over); read-only,
        unlike skip_s, which lets the probe through."""
        return max(self._open_until.get(name, 0.0) - self.clock(), 0.0)

    def record(self, name: str, ok: bool | None) -> None:
        """A call's outcome: True answered, False failed, None neither (cancelled)."""
        self._probing.discard(name)
        if ok:
            self._in_a_row.pop(name, None)
            self._open_until.pop(name, None)
        elif ok is False:
            self._in_a_row[name] = self._in_a_row.get(name, 0) + 1
            if self.failures and self._in_a_row[name] >= self.failures:
                self._open_until[name] = self.clock() + self.cooldown_s


class _Reply:
    """One reply's deadlines on one backend (set when the first attempt starts) and whether it showed."""

    def __init__(self) -> None:
        self.first_token_at = 0.0
        self.finish_at = 0.0
        self.shown = False

    def start(self, now: float, first_token_s: float, total_s: float) -> None:
        if not self.finish_at:
            self.first_token_at, self.finish_at = now + min(first_token_s, total_s), now + total_s


class LLMRouter:
    """Builds each configured backend once, on first use, and streams with limits applied."""

    def __init__(
        self,
        settings: LLMSettings,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,  # the breaker's; tests pass a manual one
    ) -> None:
        self.settings = settings
        self._progress = progress
        self._backends: dict[str, LLMBackend] = {}
        self._global_slots = asyncio.Semaphore(settings.max_concurrency)
        self._backend_slots: dict[str, asyncio.Semaphore] = {}
        self.breaker = Breaker(settings.breaker_failures, settings.breaker_cooldown_s, clock)
        self.stats = RouterStats()

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
        self,
        backend: LLMBackend,
        card: CharacterCard,
        messages: list[ChatMessage],
        stop: list[str],
        user_name: str = "",
    ) -> GenerationRequest:
        return GenerationRequest(
            messages=messages,
            max_tokens=self.max_tokens(backend, card),
            temperature=card.llm.temperature if card.llm.temperature is not None else backend.temperature,
            top_p=card.llm.top_p,
            stop=[*card.llm.stop, *stop],
            model=card.llm.model,
            speaker_names=tuple(dict.fromkeys([card.char_name, card.name, *card.name.split()])),
            user_name=user_name,
        )

    @staticmethod
    def max_tokens(backend: LLMBackend, card: CharacterCard) -> int:
        return min(card.llm.max_tokens or backend.max_tokens, backend.context_window // 2)

    def retries_for(self, backend: LLMBackend) -> int:
        """A server's own max_retries; a local model failing once fails again, so it gets none."""
        spec = self.settings.backends.get(backend.name)
        return spec.max_retries if isinstance(spec, OpenAIBackend) else 0

    async def generate(
        self, backend: LLMBackend, request: GenerationRequest, on_piece: OnPiece, last_resort: bool = False
    ) -> None:
        """Stream one reply from one backend into `on_piece`, with retries, inside the limits.

        Raises LLMError when the backend cannot give the reply; `on_piece` may have had part of it.
        A `last_resort` (the chain's last backend) is still called, once and without retries, while
        its breaker is open: the breaker saves time only when there is somewhere else to go, and
        skipping the only backend turned each short fault into apologies for everyone (the soak:
        1 reply in 5); one try each keeps the load on a failing server low.
        """
        skip_s = self.breaker.skip_s(backend.name)
        if skip_s and not last_resort:
            self.stats.skipped += 1
            raise LLMUnavailable(
                f"{backend.name} is skipped for up to {skip_s:.0f} s: its last "
                f"{self.breaker.failures} replies failed"
            )
        ok: bool | None = None
        try:
            await self._with_retries(backend, request, on_piece, 0 if skip_s else self.retries_for(backend))
            ok = True
        except LLMError:
            ok = False
            self.stats.failures += 1
            raise
        finally:
            self.breaker.record(backend.name, ok)

    async def _with_retries(
        self, backend: LLMBackend, request: GenerationRequest, on_piece: OnPiece, retries: int
    ) -> None:
        loop = asyncio.get_running_loop()
        reply = _Reply()
        attempt = 0
        while True:
            try:
                await self._attempt(backend, request, on_piece, reply)
                return
            except LLMError as exc:
                if reply.shown or not exc.retryable or attempt >= retries:
                    raise
                delay = self._backoff(attempt, exc)
                if delay is None or loop.time() + delay >= reply.first_token_at:
                    log.info("%s: no time left to retry (%s); falling back", backend.name, exc)
                    raise
                log.info("%s failed (%s); retry %d in %.2f s", backend.name, exc, attempt + 1, delay)
            self.stats.retries += 1
            attempt += 1
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int, exc: LLMError) -> float | None:
        """Full jitter on an exponential cap, at least the server's Retry-After; None: do not wait."""
        jitter = random.uniform(
            0, min(self.settings.retry_backoff_max_s, self.settings.retry_backoff_s * 2**attempt)
        )
        if exc.retry_after is None:
            return jitter
        if exc.retry_after > self.settings.max_retry_after_s:
            return None
        return max(exc.retry_after, jitter)

    async def _attempt(
        self, backend: LLMBackend, request: GenerationRequest, on_piece: OnPiece, reply: _Reply
    ) -> None:
        """One call to the backend. One deadline covers it: the first-token limit until a piece
        arrives, then (rescheduled once) the whole-reply limit. One timer per reply rather than one
        per piece is, at hundreds of pieces per reply, microseconds of CPU instead of milliseconds."""
        slots = self._backend_slots.setdefault(backend.name, asyncio.Semaphore(backend.max_concurrency))
        async with self._global_slots, slots:
            await backend.start()
            reply.start(
                asyncio.get_running_loop().time(), self.settings.first_token_timeout_s, backend.timeout_s
            )
            try:
                async with (
                    asyncio.timeout_at(reply.finish_at if reply.shown else reply.first_token_at) as deadline,
                    aclosing(backend.stream(request)) as pieces,
                ):
                    async for piece in pieces:
                        if not reply.shown:
                            reply.shown = True
                            deadline.reschedule(reply.finish_at)
                        await on_piece(piece)
            except TimeoutError:
                if reply.shown:
                    raise LLMTimedOut(
                        f"{backend.name} did not finish its reply within {backend.timeout_s:.0f} s"
                    ) from None
                raise LLMTimedOut(f"{backend.name} sent no first token in time") from None

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
