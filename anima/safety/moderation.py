"""Moderation backends: an OpenAI-compatible /v1/moderations endpoint, or an LLM judge with a policy prompt.

Both answer the same question — is this reply unsafe, and in which categories — behind a cache and a
time limit. The judge sends Llama Guard 3's own prompt with all fourteen hazard categories (S1-S14)
and the turn (the person's message, then the reply), so a Llama Guard model served by any
OpenAI-compatible server works as-is, and a general instruction model works well enough. With
`format: conversation` it sends the turn as two chat messages instead, for servers that apply Llama
Guard's chat template themselves (Ollama's llama-guard3, vLLM). A judge that is slow or unreachable
gives no answer: the local checks' and the learned guard's decision stands.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from anima.core.messages import ChatMessage
from anima.errors import AnimaError, LLMError
from anima.llm.base import GenerationRequest
from anima.llm.router import LLMRouter
from anima.safety.verdict import Rating

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judgement:
    flagged: bool
    categories: tuple[str, ...] = ()  # the backend's own names
    score: float = 1.0

    @property
    def category(self) -> str:
        """The first category in Anima's own names (harassment, hate, sexual_minors, …)."""
        for name in self.categories:
            ours = _OURS.get(name) or _OURS.get(name.split("/")[0])
            if ours:
                return ours
        return "moderation"


_OURS = {
    "harassment": "harassment",
    "hate": "hate",
    "self-harm": "self_harm",
    "sexual/minors": "sexual_minors",
    "sexual": "sexual",
    "violence": "violence",
    "illicit": "violence",
    "S1": "violence",
    "S2": "crime",
    "S3": "sexual",
    "S4": "sexual_minors",
    "S5": "harassment",
    "S6": "advice",
    "S7": "pii",
    "S8": "crime",
    "S9": "violence",
    "S10": "hate",
    "S11": "self_harm",
    "S12": "sexual",
    "S13": "deception",
    "S14": "crime",
}


class Judge(Protocol):
    name: str

    async def judge(self, text: str, rating: Rating, request: str = "") -> Judgement | None:
        """None when no answer came in time (the local decision stands). `request`: the person's message."""
        ...

    async def close(self) -> None: ...


class OpenAIModeration:
    """POST {base_url}/moderations with {"model", "input"}; OpenAI's moderation API or a compatible server."""

    name = "moderation endpoint"

    def __init__(self, base_url: str, api_key: str, model: str) -> None:
        self.url = base_url.rstrip("/") + "/moderations"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._session: aiohttp.ClientSession | None = None

    async def judge(self, text: str, rating: Rating, request: str = "") -> Judgement | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self.headers)
        try:
            async with self._session.post(self.url, json={"model": self.model, "input": text}) as response:
                if response.status != 200:
                    raise AnimaError(f"moderation endpoint answered HTTP {response.status}")
                body = await response.json()
            result = body["results"][0]
        except (aiohttp.ClientError, KeyError, IndexError, ValueError) as exc:
            raise AnimaError(f"moderation endpoint {self.url} failed: {exc}") from exc
        flagged = [name for name, on in result.get("categories", {}).items() if on]
        if rating == "mature":  # adult content is allowed there; minors never
            flagged = [name for name in flagged if name != "sexual"]
        scores = result.get("category_scores", {})
        return Judgement(
            bool(flagged), tuple(flagged), max((scores.get(n, 1.0) for n in flagged), default=0.0)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


LLAMA_GUARD_CATEGORIES = {  # Llama Guard 3's hazard categories, as its chat template lists them
    "S1": "Violent Crimes.",
    "S2": "Non-Violent Crimes.",
    "S3": "Sex Crimes.",
    "S4": "Child Exploitation.",
    "S5": "Defamation.",
    "S6": "Specialized Advice.",
    "S7": "Privacy.",
    "S8": "Intellectual Property.",
    "S9": "Indiscriminate Weapons.",
    "S10": "Hate.",
    "S11": "Self-Harm.",
    "S12": "Sexual Content.",
    "S13": "Elections.",
    "S14": "Code Interpreter Abuse.",
}
ALLOWED_BY_RATING: dict[Rating, frozenset[str]] = {"mature": frozenset({"S12"})}  # adult content only

JUDGE_PROMPT = """Task: Check if there is unsafe content in 'Agent' messages in conversations according our \
safety policy with the below categories.

<BEGIN UNSAFE CONTENT CATEGORIES>
{categories}
<END UNSAFE CONTENT CATEGORIES>

<BEGIN CONVERSATION>

{conversation}

<END CONVERSATION>

Provide your safety assessment for ONLY THE LAST Agent message in the above conversation:
 - First line must read 'safe' or 'unsafe'.
 - If unsafe, a second line must include a comma-separated list of violated categories."""


def judge_prompt(text: str, request: str = "") -> str:
    """Llama Guard 3's prompt for the reply `text` to the message `request`, with S1-S14."""
    listing = "\n".join(f"{code}: {title}" for code, title in LLAMA_GUARD_CATEGORIES.items())
    turns = ([f"User: {request}"] if request else []) + [f"Agent: {text}"]
    return JUDGE_PROMPT.format(categories=listing, conversation="\n\n".join(turns))


class LlamaGuardJudge:
    """An LLM judge over any configured backend (a Llama Guard model, or any instruction model)."""

    name = "LLM judge"

    def __init__(self, router: LLMRouter, backend: str, conversation: bool = False) -> None:
        self.router = router
        self.backend = backend
        self.conversation = conversation  # send the turn as chat messages: the server applies the template

    def messages(self, text: str, request: str) -> list[ChatMessage]:
        if self.conversation:
            return [ChatMessage("user", request or "(no message)"), ChatMessage("assistant", text)]
        return [ChatMessage("user", judge_prompt(text, request))]

    async def judge(self, text: str, rating: Rating, request: str = "") -> Judgement | None:
        backend = self.router.backend(self.backend)
        request_ = GenerationRequest(messages=self.messages(text, request), max_tokens=12, temperature=0.0)
        pieces: list[str] = []

        async def collect(piece: str) -> None:
            pieces.append(piece)

        await self.router.generate(backend, request_, collect)
        answer = "".join(pieces).strip().lower()
        if answer.startswith("safe"):
            return Judgement(False)
        if not answer.startswith("unsafe"):
            raise LLMError(f"the judge answered neither 'safe' nor 'unsafe': {answer[:40]!r}")
        codes = tuple(c.strip().upper() for c in answer.partition("\n")[2].split(",") if c.strip())
        known = tuple(c for c in codes if c in LLAMA_GUARD_CATEGORIES) or ("unsafe",)
        flagged = tuple(c for c in known if c not in ALLOWED_BY_RATING.get(rating, frozenset()))
        return Judgement(bool(flagged), flagged)

    async def close(self) -> None:
        return None


class CachedJudge:
    """A judge behind an LRU cache and a time limit; a late or failed answer is None, never an exception."""

    def __init__(self, inner: Judge, timeout_s: float, cache_size: int = 1024) -> None:
        self.inner = inner
        self.name = inner.name
        self.timeout_s = timeout_s
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str, str], Judgement] = OrderedDict()
        self.calls = 0

    async def judge(self, text: str, rating: Rating, request: str = "") -> Judgement | None:
        key = (rating, request, text)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        self.calls += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                judgement = await self.inner.judge(text, rating, request)
        except TimeoutError:
            log.warning(
                "%s gave no answer within %.1f s; the local checks' decision stands",
                self.name,
                self.timeout_s,
            )
            return None
        except AnimaError as exc:
            log.warning("%s failed (the local checks' decision stands): %s", self.name, exc)
            return None
        if judgement is not None and self.cache_size:
            self._cache[key] = judgement
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return judgement

    async def close(self) -> None:
        await self.inner.close()
