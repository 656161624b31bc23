"""Any OpenAI-compatible server over HTTP: OpenAI, vLLM, Ollama, llama.cpp server, OpenRouter.

A streamed chat completion is the hot path, so it is read with aiohttp (one session per backend,
built once): the `data:` lines of the SSE stream and json.loads per line. Measured here
(bench/stream_bench.py), the `openai` client's own raw lines cost over twice the CPU per
200-chunk reply (its typed chunk objects cost far more still). There are no retries here: every failure
is translated into a typed LLMError (retryable or not, with the server's Retry-After), and the
router owns the one retry policy, so a failing backend can be given up for a fallback within the
reply's deadline and counted.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from pydantic import SecretStr
from yarl import URL

from anima.config import OpenAIBackend
from anima.core.messages import ChatMessage
from anima.core.tokens import CachedCounter, TiktokenCounter
from anima.errors import LLMError, LLMRateLimited, LLMStreamBroken, LLMTimedOut, LLMUnavailable
from anima.llm.base import GenerationRequest, SettingsBackend, prompt_style

if TYPE_CHECKING:
    from openai import AsyncOpenAI

# Local servers (Ollama, vLLM, llama.cpp) ignore the key; OpenAI's own client sends a placeholder too.
PLACEHOLDER_KEY = "no-key"
ERROR_BODY_BYTES = 2048  # of a failed answer's body, read for nothing but to free the connection
MAX_EVENT_BYTES = 1 << 20  # one stream event (a line) longer than this is a broken response


class Endpoint(Protocol):
    """An OpenAI-compatible server's settings (llm.backends, voice.openai)."""

    base_url: str
    api_key: SecretStr
    max_retries: int
    timeout_s: float


def openai_client(endpoint: Endpoint, max_retries: int | None = None, timeout: Any = None) -> AsyncOpenAI:
    """The `openai` package's client for what is not chat (speech, transcription, pictures): its
    retries and timeouts are its own. Imported on first use: a text chat never loads it."""
    import openai

    return openai.AsyncOpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key.get_secret_value() or PLACEHOLDER_KEY,
        max_retries=endpoint.max_retries if max_retries is None else max_retries,
        timeout=endpoint.timeout_s if timeout is None else timeout,
    )


class OpenAILLM(SettingsBackend):
    def __init__(self, name: str, settings: OpenAIBackend) -> None:
        super().__init__(name, settings)
        self.settings = settings
        self.max_concurrency = settings.max_concurrency
        self.prompt_style = prompt_style(settings.prompt_style, settings.context_window)
        self.vision = settings.vision
        self.counter = CachedCounter(TiktokenCounter())
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            # HTTP(S)_PROXY / NO_PROXY, as the openai client honoured them, read once per session:
            # aiohttp's trust_env read them (and ~/.netrc) on every request, two thread hops a reply.
            proxy = await asyncio.to_thread(_env_proxy, self._url)
            if self._session is not None and not self._session.closed:
                return  # another stream started it meanwhile
            self._proxy, self._proxy_auth = proxy
            key = self.settings.api_key.get_secret_value() or PLACEHOLDER_KEY
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {key}", "Accept": "text/event-stream"},
                # as the openai client had it: connect within connect_timeout_s, and no read waits
                # longer than timeout_s (the router holds the first-token and whole-reply deadlines)
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=self.settings.connect_timeout_s,
                    sock_read=self.settings.timeout_s,
                ),
            )

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.settings.model,
            "messages": [_message(m, self.vision) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = request.stop[:4]  # OpenAI accepts at most four stop sequences
        return body

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[str, None]:
        await self.start()
        assert self._session is not None
        where = f"{self.name}: {self.settings.base_url}"
        shown = False  # once a piece is out, a failure is a broken stream, never a retry
        try:
            async with self._session.post(
                self._url, json=self._body(request), proxy=self._proxy, proxy_auth=self._proxy_auth
            ) as response:
                if response.status >= 400:
                    await response.content.read(ERROR_BODY_BYTES)
                    raise _status_error(where, response.status, response.headers)
                events = _Events(where)
                # Whatever arrived is read at once, and its events' pieces go on as one: at a
                # burst's pace a read holds many lines, and every layer above costs per piece.
                async for data in _then_newline(response.content.iter_any()):
                    piece = "".join(events.pieces(data))
                    if piece:
                        shown = True
                        yield piece
                    if events.error is not None:
                        raise events.error
                    if events.done:
                        return
                finished = events.finished
                if not finished and shown:
                    raise LLMStreamBroken(f"{where} ended the stream before the reply finished")
                if not finished:
                    raise LLMUnavailable(f"{where} ended the stream before the reply began")
        except LLMError:
            raise
        except TimeoutError as exc:  # connect or read (aiohttp's are both)
            if shown:
                raise LLMStreamBroken(f"{where} stopped sending mid-reply (read timeout)") from exc
            raise LLMTimedOut(f"{where} timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            raise LLMUnavailable(f"{self.name}: cannot reach {self.settings.base_url} ({exc})") from exc
        except Exception as exc:  # aiohttp's errors once the stream is open (peer closed, cut payload …)
            if shown:
                raise LLMStreamBroken(f"{where}: the stream broke off: {exc}") from exc
            raise LLMUnavailable(f"{where}: the connection broke before the reply began: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Events:
    """The `data:` events of an SSE stream, fed as the bytes come (lines cut anywhere)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.done = False  # [DONE] came
        self.finished = False  # a choice said why it finished
        self.error: LLMError | None = None  # what to raise once the pieces before it went on
        self._partial = b""

    def pieces(self, data: bytes) -> list[str]:
        """The content pieces of the events `data` completes, in order, up to [DONE] or an error."""
        *lines, self._partial = (self._partial + data).split(b"\n")
        found: list[str] = []
        if len(self._partial) > MAX_EVENT_BYTES:
            self.error = LLMError(f"{self.where}: broken response: an event of over {MAX_EVENT_BYTES} bytes")
        for raw in lines:
            if not raw.startswith(b"data:"):
                continue
            payload = raw[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                break
            try:
                event = json.loads(payload)
                if not isinstance(event, dict):
                    raise LLMError(f"{self.where}: broken response: a stream event that is not an object")
                if "error" in event:
                    raise LLMStreamBroken(f"{self.where} reported an error mid-stream: {event['error']}")
                for choice in event.get("choices") or ():
                    self.finished = self.finished or bool(choice.get("finish_reason"))
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        found.append(piece)
            except LLMError as exc:
                self.error = exc
                break
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
                self.error = LLMError(f"{self.where}: broken response: {exc}")
                break
        return found


def _env_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for `url` (none where NO_PROXY covers its host)."""
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None


async def _then_newline(reads: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`reads`, then a newline: a last line the server did not end is read too."""
    async for data in reads:
        yield data
    yield b"\n"


def _message(message: ChatMessage, vision: bool) -> dict[str, Any]:
    """A chat message as the API takes it: with pictures (and vision), OpenAI's content parts, the text
    first and each JPEG as a data URL; OpenAI, vLLM and Ollama vision models all read this form."""
    if not (vision and message.images):
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for jpeg in message.images:
        url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"role": message.role, "content": parts}


def _status_error(where: str, status: int, headers: Mapping[str, str]) -> LLMError:
    """429 and 5xx (and 408/409, as the openai client counts them) are worth a retry; other 4xx are not."""
    if status == 429:
        return LLMRateLimited(f"{where} answered HTTP 429 (rate limited)", retry_after(headers))
    if status >= 500 or status in (408, 409):
        return LLMUnavailable(f"{where} answered HTTP {status} — the server is failing", retry_after(headers))
    hint = {
        401: "check the api_key (e.g. OPENAI_API_KEY)",
        403: "the key may not have access to this model",
        404: "check base_url and model",
    }.get(status, "")
    return LLMError(f"{where} answered HTTP {status}" + (f" — {hint}" if hint else ""))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The server's wait in seconds: `retry-after-ms`, `retry-after` in seconds, or as an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            pass
    when = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(when) if when else None
    if parsed is None:
        return None
    return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)
