"""The terminal adapter: `anima chat`, interactive or scripted through a pipe."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from anima.app import Runtime
from anima.characters.card import CharacterCard
from anima.core.messages import Incoming, Reply
from anima.errors import AnimaError
from anima.voice import delivery_for

HELP = """Commands:
  /reset            start a fresh conversation (what was said stays stored)
  /character NAME   talk to another character
  /memory           what the character keeps about you
  /voice on|off     also write each reply as a voice note (.ogg) and print its path
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
        except EOFError:
            value = None  # stdin decodes with errors="replace" (anima/cli.py): bad bytes never end it
        if not loop.is_closed():
            loop.call_soon_threadsafe(deliver, value)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return line


class ConsoleStream:
    """Prints tokens as they arrive, then whatever the person should know about the reply."""

    def __init__(self, out: TextIO, err: TextIO, name: str) -> None:
        self.out, self.err, self.name = out, err, name
        self.shown = ""  # what was printed, without the whitespace held back at its end
        self._held = ""  # trailing whitespace: printed only if more text follows it

    async def delta(self, text: str) -> None:
        if not self.shown:
            text = text.lstrip()
            if not text:
                return
            self.out.write(f"{self.name}: ")
        text = self._held + text
        body = text.rstrip()
        self._held = text[len(body) :]
        self.shown += body
        self.out.write(body)
        self.out.flush()

    async def finish(self, reply: Reply) -> None:
        final = reply.text.strip()
        if not self.shown:
            self.out.write(f"{reply.character_name}: {final}")
        elif final.startswith(self.shown):  # checked streaming may have held the rest back
            self.out.write(final[len(self.shown) :])
        elif not reply.cut:
            self.out.write(f"\n({reply.character_name}, trimmed): {final}")
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
    voice_on: bool = False
    notes_written: list[Path] = field(default_factory=list)
    _sent: deque[float] = field(default_factory=deque)  # when the recent piped lines went (see _pace)

    def _incoming(self, text: str) -> Incoming:
        return Incoming(
            platform="terminal",
            chat_id="terminal",
            user_id=self.user,
            display_name=self.user,
            text=text,
            character_id=self.character_id,
        )

    def _pace(self) -> float:
        """Seconds to wait before the next piped line, so flood control never drops one: piped
        lines queue at the rate a person may send (safety.flood_messages per flood_window_s)."""
        limit, window = (
            self.runtime.settings.safety.flood_messages,
            self.runtime.settings.safety.flood_window_s,
        )
        now = time.monotonic()
        while self._sent and now - self._sent[0] > window:
            self._sent.popleft()
        wait = window - (now - self._sent[0]) + 0.5 if len(self._sent) >= limit else 0.0
        self._sent.append(now + wait)
        return wait

    async def run(self, interactive: bool) -> None:
        card = self.runtime.characters.get(self.character_id)
        self.character_id = card.id
        # Load the model before the first message, so its progress shows while the user reads.
        await self.runtime.router.chain(card)[0].start()
        await self.load_preferences()
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
            if not interactive and (wait := self._pace()):
                self.err.write(f"[flood control: the next line waits {wait:.0f} s for its turn]\n")
                self.err.flush()
                await asyncio.sleep(wait)
            if await self.say(line) is None:  # dropped on the way: say so, never silently
                self.err.write(f"[not answered: {line[:60]!r}]\n")
                self.err.flush()

    async def say(self, line: str) -> Reply | None:
        """One message to the character: its reply streams out, then (with /voice on) a voice note."""
        card = self.runtime.characters.get(self.character_id)
        stream = ConsoleStream(self.out, self.err, card.name)
        reply = await self.runtime.pipeline.handle(self._incoming(line), stream)
        if reply is not None and not reply.failed and delivery_for(card, self.voice_on).voice:
            await self._write_voice_note(card, reply.text)
        return reply

    async def load_preferences(self) -> None:
        """What this user chose in earlier chats: for now, whether voice is on."""
        voice = await self.runtime.memory.get_preference("terminal", "terminal", "voice", user_id=self.user)
        self.voice_on = bool(voice)

    async def _write_voice_note(self, card: CharacterCard, text: str) -> None:
        try:
            note = await self.runtime.voice.speak(card, text)
        except AnimaError as exc:  # the text is already on screen; say why there is no sound
            self.err.write(f"[no voice note: {exc}]\n")
            self.err.flush()
            return
        folder = self.runtime.settings.resolve(self.runtime.settings.voice.notes_dir)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = folder / f"{card.id}-{stamp}-{len(self.notes_written) + 1}.ogg"

        def write() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(note.ogg)

        await asyncio.to_thread(write)
        self.notes_written.append(path)
        self.err.write(f"[voice: {path} ({note.duration_s:.1f} s)]\n")
        self.err.flush()

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
            if view.facts:
                self.out.write(f"What {card.name} knows about you:\n")
                for fact in view.facts:
                    self.out.write(f"  - {self.user} {fact.content} (since {fact.since:%Y-%m-%d})\n")
            if view.summary:
                self.out.write(f"Earlier, in short: {view.summary}\n")
            for message in view.recent:
                who = self.user if message.role == "user" else card.name
                self.out.write(f"  {message.created_at:%Y-%m-%d %H:%M} {who}: {message.content}\n")
        elif name == "/voice":
            await self._voice_command(arg.strip().lower())
        else:
            self.err.write(f"unknown command {name}; type /help\n")
        self.out.flush()
        self.err.flush()
        return True

    async def _voice_command(self, arg: str) -> None:
        if arg not in ("on", "off"):
            self.err.write(f"voice is {'on' if self.voice_on else 'off'}; /voice on or /voice off\n")
            return
        self.voice_on = arg == "on"
        await self.runtime.memory.set_preference(
            "terminal", "terminal", "voice", self.voice_on, user_id=self.user
        )
        card = self.runtime.characters.get(self.character_id)
        if self.voice_on and card.voice.mode == "text":
            self.err.write(f"[{card.name} speaks in text only (voice.mode: text in the card)]\n")
        elif self.voice_on:
            folder = self.runtime.settings.resolve(self.runtime.settings.voice.notes_dir)
            self.err.write(f"[voice on: each reply is also written to {folder}/ as an .ogg file]\n")
        else:
            self.err.write("[voice off]\n")
