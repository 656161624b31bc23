"""Any OpenAI-compatible server through AsyncOpenAI: OpenAI, vLLM, Ollama, llama.cpp server, OpenRouter.

The stream is read as raw SSE lines with json.loads rather than the client's typed chunk objects:
measured here, typed chunks cost ~78 ms of CPU per 200-chunk reply against ~20 ms for raw lines.
The client's own retries are off (max_retries=0): every failure is translated here into a typed
LLMError (retryable or not, with the server's Retry-After), and the router owns the one retry policy,
so a failing backend can be given up for a fallback within the reply's deadline and counted.
"""

from __future__ import annotations

import base64
import email.utils
import json
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import openai

from anima.config import OpenAIBackend
from anima.core.messages import ChatMessage
from anima.core.tokens import CachedCounter, TiktokenCounter
from anima.errors import LLMError, LLMRateLimited, LLMStreamBroken, LLMTimedOut, LLMUnavailable
from anima.llm.base import GenerationRequest, prompt_style

# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the client refuses to start without one.
PLACEHOLDER_KEY = "no-key"


class OpenAILLM:
    def __init__(self, name: str, settings: OpenAIBackend) -> None:
        self.name = name
        self.settings = settings
        self.context_window = settings.context_window
        self.max_tokens = settings.max_tokens
        self.temperature = settings.temperature
        self.timeout_s = settings.timeout_s
        self.max_concurrency = settings.max_concurrency
        self.prompt_style = prompt_style(settings.prompt_style, settings.context_window)
        self.vision = settings.vision
        self.counter = CachedCounter(TiktokenCounter())
        self._client: openai.AsyncOpenAI | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.settings.base_url,
                api_key=self.settings.api_key.get_secret_value() or PLACEHOLDER_KEY,
                max_retries=0,  # the router retries (see the module docstring)
                timeout=openai.Timeout(self.settings.timeout_s, connect=self.settings.connect_timeout_s),
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
        assert self._client is not None
        where = f"{self.name}: {self.settings.base_url}"
        shown = False  # once a piece is out, a failure is a broken stream, never a retry
        try:
            async with self._client.chat.completions.with_streaming_response.create(
                **self._body(request)
            ) as response:
                finished = False
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    data = json.loads(payload)
                    if "error" in data:
                        raise LLMStreamBroken(f"{where} reported an error mid-stream: {data['error']}")
                    for choice in data.get("choices", ()):
                        finished = finished or bool(choice.get("finish_reason"))
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            shown = True
                            yield piece
                if not finished and shown:
                    raise LLMStreamBroken(f"{where} ended the stream before the reply finished")
                if not finished:
                    raise LLMUnavailable(f"{where} ended the stream before the reply began")
        except openai.APIStatusError as exc:
            raise _status_error(where, exc) from exc
        except openai.APITimeoutError as exc:
            if shown:
                raise LLMStreamBroken(f"{where} stopped sending mid-reply (read timeout)") from exc
            raise LLMTimedOut(f"{where} timed out") from exc
        except openai.APIConnectionError as exc:
            if shown:
                raise LLMStreamBroken(f"{where}: the stream broke off ({exc.__cause__ or exc})") from exc
            raise LLMUnavailable(
                f"{self.name}: cannot reach {self.settings.base_url} ({exc.__cause__ or exc})"
            ) from exc
        except (json.JSONDecodeError, openai.OpenAIError) as exc:
            raise LLMError(f"{where}: broken response: {exc}") from exc
        except LLMError:
            raise
        except Exception as exc:  # the HTTP library's own errors once the stream is open (peer closed, …)
            if shown:
                raise LLMStreamBroken(f"{where}: the stream broke off: {exc}") from exc
            raise LLMUnavailable(f"{where}: the connection broke before the reply began: {exc}") from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


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


def _status_error(where: str, exc: openai.APIStatusError) -> LLMError:
    """429 and 5xx (and 408/409, as the openai client counts them) are worth a retry; other 4xx are not."""
    status = exc.status_code
    if status == 429:
        return LLMRateLimited(f"{where} answered HTTP 429 (rate limited)", retry_after(exc.response.headers))
    if status >= 500 or status in (408, 409):
        return LLMUnavailable(
            f"{where} answered HTTP {status} — the server is failing", retry_after(exc.response.headers)
        )
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
