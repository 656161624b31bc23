"""What every LLM backend offers the pipeline: a token counter, a window, and a text stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from anima.config import EmbeddedBackend, OpenAIBackend
from anima.core.messages import ChatMessage
from anima.core.tokens import TokenCounter


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[ChatMessage]
    max_tokens: int
    temperature: float
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    model: str | None = None  # a card may ask for another model on the same server
    speaker_names: tuple[str, ...] = ()  # the character's names, and the person's: a small model's
    user_name: str = ""  # reply is tidied against speaking as someone else (anima/llm/tidy.py)


Progress = Callable[[str], None]  # told what a slow start is doing ("Loading …"), for the terminal


class LLMBackend(Protocol):
    name: str
    context_window: int
    max_tokens: int
    temperature: float
    timeout_s: float  # the whole reply
    max_concurrency: int
    prompt_style: str  # "full" or "compact" (anima/core/prompt.py)
    vision: bool  # it reads pictures sent as OpenAI-style image content parts

    @property
    def counter(self) -> TokenCounter:
        """Counts tokens as this backend's model does (read-only: each backend keeps its own)."""
        ...

    async def start(self) -> None:
        """Load models / open clients; called once before the first request."""

    def stream(self, request: GenerationRequest) -> AsyncGenerator[str, None]:
        """Yield the reply's text pieces as they arrive; raise LLMError on any failure."""
        ...

    async def close(self) -> None: ...


class SettingsBackend:
    """The LLMBackend attributes a backend takes from its settings as they are."""

    def __init__(self, name: str, settings: EmbeddedBackend | OpenAIBackend) -> None:
        self.name = name
        self.context_window = settings.context_window
        self.max_tokens = settings.max_tokens
        self.temperature = settings.temperature
        self.timeout_s = settings.timeout_s


def prompt_style(chosen: str, context_window: int, tiny_model: bool = False) -> str:
    """Resolve `prompt_style: auto`: compact for a tiny model or a window of 2048 tokens or less."""
    if chosen != "auto":
        return chosen
    return "compact" if tiny_model or context_window <= 2048 else "full"
