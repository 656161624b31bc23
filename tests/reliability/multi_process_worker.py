"""One `anima run`-like process for tests/reliability/test_multi_process.py, as a platform adapter runs.

It starts the real Runtime on the given database and takes deliveries from stdin, one JSON message
a line, each as it arrives (a test plays the platform and the load balancer: it decides which
process gets which message, and which get it twice). Each delivery goes the adapters' way: under
its conversation's lock, claim it in the inbox, answer it through the pipeline, record the reply as
sent, mark it answered. At the end of stdin it finishes what it took and exits.

The model is the instant fake; its reply names the message it answers and the user message before
it in the prompt's history, so the stored conversation shows what each turn saw. `--freeze-at TEXT`:
when that message reaches the model, every generation of this worker stalls (the process hangs
holding its locks), it reports `frozen`, and waits to be killed.

It reports on stdout, one JSON object a line: `started`, then `new` or `resumed` when it claims a
delivery, `sent` with the reply, `frozen`, and `done`.

    python -m tests.reliability.multi_process_worker URL NAME [--freeze-at TEXT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TextIO

from anima.app import Runtime
from anima.config import MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming, Reply, ReplyStream
from anima.llm.base import GenerationRequest
from anima.memory.inbox import Delivery
from anima.safety.profanity_model import load_profanity_model
from tests.conftest import NO_GATHERING, REPO
from tests.fakes.llm import InstantLLM
from tests.fakes.surface import FakeSurface

PLATFORM, BOT = "test", "bot-1"


def previous_reply(request: GenerationRequest) -> str:
    said = [m.content for m in request.messages if m.role == "user"]
    before = said[-2] if len(said) > 1 else "-"
    return f"re {said[-1]} after {before}"


class Freezer:
    """Stalls this worker for good once the message `at` reaches the model: a process hung with its
    locks. It says `frozen` once no turn is past its model call and not yet marked answered, so a
    kill then finds every turn either waiting for its lock or stuck in the model."""

    def __init__(self, at: str | None, out: TextIO) -> None:
        self.at = at
        self.out = out
        self.frozen = False
        self.past_model: set[str] = set()  # texts whose reply was generated and is not marked answered
        self._forever = asyncio.Event()

    async def generating(self, text: str) -> None:
        if self.at is not None and self.at == text:
            self.frozen = True
        if self.frozen:
            self.tell_if_still()
            await self._forever.wait()

    def answered(self, text: str) -> None:
        self.past_model.discard(text)
        self.tell_if_still()

    def tell_if_still(self) -> None:
        if self.frozen and not self.past_model:
            _write(self.out, {"event": "frozen"})


class FreezingLLM(InstantLLM):
    def __init__(self, freezer: Freezer) -> None:
        super().__init__(reply=previous_reply, delay_s=0.002)
        self.freezer = freezer

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        said = next(m.content for m in reversed(request.messages) if m.role == "user")
        await self.freezer.generating(said)
        self.freezer.past_model.add(said)
        async for piece in super().stream(request):
            yield piece


class RecordingStream:
    """The platform's side: `finish` is the reply going out, written to this worker's output."""

    def __init__(self, out: TextIO, name: str, delivery_id: str) -> None:
        self.out, self.name, self.delivery_id = out, name, delivery_id

    async def delta(self, text: str) -> None:
        return None

    async def finish(self, reply: Reply) -> None:
        _write(self.out, {"event": "sent", "worker": self.name, "id": self.delivery_id, "text": reply.text})


def _write(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps({**record, "t": round(time.time(), 3)}) + "\n")
    out.flush()


class WorkerChat(FakeSurface):
    """The chat as the conversation service sees it; what it decided (a new message, or one resumed
    after a process died) is written out as the reply starts."""

    def __init__(self, worker: Worker, item: dict[str, str]) -> None:
        super().__init__(PLATFORM, item["chat"], item["user"], "Lin", bot_id=BOT, character_id=None)
        self.worker, self.item = worker, item

    @asynccontextmanager
    async def replying(self, resumed: bool = False) -> AsyncIterator[ReplyStream]:
        worker, item_id = self.worker, self.item["id"]
        _write(worker.out, {"event": "resumed" if resumed else "new", "worker": worker.name, "id": item_id})
        yield RecordingStream(worker.out, worker.name, item_id)


class Worker:
    def __init__(self, runtime: Runtime, name: str, freezer: Freezer, out: TextIO) -> None:
        self.runtime, self.name, self.freezer, self.out = runtime, name, freezer, out
        runtime.conversations.inbox.owner = name

    async def deliver(self, item: dict[str, str]) -> None:
        incoming = Incoming(
            platform=PLATFORM,
            chat_id=item["chat"],
            user_id=item["user"],
            display_name="Lin",
            text=item["text"],
            message_id=item["id"],
        )
        delivery = Delivery(PLATFORM, BOT, item["id"], json.dumps(item))
        if await self.runtime.conversations.handle(incoming, WorkerChat(self, item), delivery) is not None:
            self.freezer.answered(item["text"])


async def main(url: str, name: str, freeze_at: str | None) -> None:
    settings = Settings(
        conversation=NO_GATHERING,
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=url, summarize_every=0, llm_facts_every=0),
        safety=SafetySettings(flood_messages=1_000_000),
    )
    out = sys.stdout
    freezer = Freezer(freeze_at, out)
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", FreezingLLM(freezer))
    await asyncio.to_thread(load_profanity_model)  # read at start, not in the first turn
    worker = Worker(runtime, name, freezer, out)
    _write(out, {"event": "started", "worker": name})
    taken: list[asyncio.Task[None]] = []
    try:
        async with asyncio.timeout(60):
            while line := await asyncio.to_thread(sys.stdin.readline):
                taken.append(asyncio.create_task(worker.deliver(json.loads(line))))
            await asyncio.gather(*taken)
    finally:
        await runtime.close()
    _write(out, {"event": "done", "worker": name})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("--freeze-at")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.url, args.name, args.freeze_at))
