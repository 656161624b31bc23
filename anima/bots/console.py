"""The terminal adapter: `anima chat`, interactive or scripted through a pipe."""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import dataclass
from typing import TextIO

from anima.core.messages import Incoming, Reply
from anima.core.runtime import Runtime
from anima.errors import AnimaError

HELP = """Commands:
  /reset            start a fresh conversation (what was said stays stored)
  /character NAME   talk to another character
  /memory           what the character keeps about you
  /help             this help
  /quit             leave (Ctrl-D works too)"""


def _read_line(prompt: str | None) -> asyncio.Future[str | None]:
    """Read one line (None at end of input) on a daemon thread.

    Not asyncio.to_thread: its executor is joined at exit, so Ctrl-C would hang until Enter.
    """
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str | None] = loop.create_future()

    def deliver(value: str | None) -> None:
        if not line.done():
            line.set_result(value)

    def read() -> None:
        try:
            value = input(prompt) if prompt is not None else (sys.stdin.readline() or None)
        except (EOFError, UnicodeDecodeError):
            value = None
        if not loop.is_closed():
            loop.call_soon_threadsafe(deliver, value)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return line


class ConsoleStream:
    """Prints tokens as they arrive, then whatever the person should know about the reply."""

    def __init__(self, out: TextIO, err: TextIO, name: str) -> None:
        self.out, self.err, self.name = out, err, name
        self.shown = ""

    async def delta(self, text: str) -> None:
        if not self.shown:
            self.out.write(f"{self.name}: ")
            text = text.lstrip()
        self.shown += text
        self.out.write(text)
        self.out.flush()

    async def finish(self, reply: Reply) -> None:
        if not self.shown:
            self.out.write(f"{reply.character_name}: {reply.text}")
        elif reply.text != self.shown.strip() and not reply.cut:
            self.out.write(f"\n({reply.character_name}, trimmed): {reply.text}")
        self.out.write("\n")
        self.out.flush()
        for notice in reply.notices:
            self.err.write(f"[{notice}]\n")
        self.err.flush()


@dataclass
class ConsoleChat:
    runtime: Runtime
    character_id: str
    user: str
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr

    def _incoming(self, text: str) -> Incoming:
        return Incoming(
            platform="terminal",
            chat_id="terminal",
            user_id=self.user,
            display_name=self.user,
            text=text,
            character_id=self.character_id,
        )

    async def run(self, interactive: bool) -> None:
        card = self.runtime.characters.get(self.character_id)
        self.character_id = card.id
        # Load the model before the first message, so its progress shows while the user reads.
        await self.runtime.router.chain(card)[0].start()
        await self._greet()
        if interactive:
            self.err.write("(type /help for commands)\n")
        while True:
            line = await _read_line("you> " if interactive else None)
            if line is None:
                return
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not await self._command(line):
                    return
                continue
            pipeline = self.runtime.pipeline
            await pipeline.handle(self._incoming(line), ConsoleStream(self.out, self.err, card.name))

    async def _greet(self) -> None:
        card = self.runtime.characters.get(self.character_id)
        greeting = await self.runtime.pipeline.greet(self._incoming(""))
        self.out.write(f"{card.name}: {greeting}\n")
        self.out.flush()

    async def _command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        pipeline = self.runtime.pipeline
        card = self.runtime.characters.get(self.character_id)
        key = pipeline.key_for(self._incoming(""), card)
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            self.err.write(HELP + "\n")
        elif name == "/reset":
            conversation = await self.runtime.memory.conversation(key, self.user)
            await self.runtime.memory.reset(conversation)
            self.err.write(f"[{card.name} starts afresh; earlier messages stay stored]\n")
            await self._greet()
        elif name == "/character":
            if not arg.strip():
                self.err.write("available: " + ", ".join(sorted(self.runtime.characters.cards)) + "\n")
                return True
            try:
                self.character_id = self.runtime.characters.get(arg.strip()).id
            except AnimaError as exc:
                self.err.write(f"error: {exc}\n")
                return True
            await self._greet()
        elif name == "/memory":
            view = await self.runtime.memory.view(key, self.user)
            since = view.first_seen.strftime("%Y-%m-%d") if view.first_seen else "today"
            self.out.write(
                f"{card.name} has known you since {since}: {view.total_messages} messages stored, "
                f"{view.in_history} in the current conversation.\n"
            )
            for message in view.recent:
                who = self.user if message.role == "user" else card.name
                self.out.write(f"  {message.created_at:%Y-%m-%d %H:%M} {who}: {message.content}\n")
        else:
            self.err.write(f"unknown command {name}; type /help\n")
        self.out.flush()
        self.err.flush()
        return True
