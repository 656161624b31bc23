"""The terminal adapter: `anima chat`, interactive or scripted through a pipe.

A `ConsoleSurface` is the terminal as a chat (anima.core.surface): replies print as they stream,
commands' answers print whole, voice notes and files are written under voice.notes_dir.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

from anima.bots.services import Services
from anima.commands import Context, help_text, parse
from anima.core.messages import Attachment, Incoming, Reply, ReplyStream
from anima.core.surface import Action, Button, ChatKind, NotFetched, VoiceNote
from anima.hearing.command import is_audio_file
from anima.voice.sing.files import is_score_file

PLATFORM = "terminal"
QUIT = (
    "/listen FILE – send a recording as a voice message",
    "/image FILE [caption] – send a picture",
    "/quit – leave (Ctrl-D works too)",
)


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


def _line_editing() -> None:
    """Arrow keys, Ctrl-A/E and history (↑) for input(): importing readline turns them on."""
    try:
        import readline  # noqa: F401  (not on every platform: Windows has none)
    except ImportError:
        pass


class TypingIndicator:
    """ "Aiko is typing…" on the line below the prompt while a reply is made, erased by the reply."""

    def __init__(self, out: TextIO, enabled: bool) -> None:
        self.out, self.enabled = out, enabled
        self.visible = False

    def show(self, name: str) -> None:
        if self.enabled and not self.visible:
            self.out.write(f"\033[2m{name} is typing…\033[0m")
            self.out.flush()
            self.visible = True

    def clear(self) -> None:
        if self.visible:
            self.out.write("\r\033[K")  # back to the start of the line, and erase it
            self.out.flush()
            self.visible = False


class ConsoleStream:
    """Prints tokens as they arrive, then whatever the person should know about the reply."""

    def __init__(self, out: TextIO, err: TextIO, name: str, typing: TypingIndicator | None = None) -> None:
        self.out, self.err, self.name = out, err, name
        self.typing = typing or TypingIndicator(out, enabled=False)
        self.shown = ""  # what was printed, without the whitespace held back at its end
        self._held = ""  # trailing whitespace: printed only if more text follows it

    async def delta(self, text: str) -> None:
        if not self.shown:
            text = text.lstrip()
            if not text:
                return
            self.typing.clear()
            self.out.write(f"{self.name}: ")
        text = self._held + text
        body = text.rstrip()
        self._held = text[len(body) :]
        self.shown += body
        self.out.write(body)
        self.out.flush()

    async def finish(self, reply: Reply) -> None:
        self.typing.clear()
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
class ConsoleSurface:
    """The terminal as a chat: one person, who owns the bot (they run it)."""

    chat: ConsoleChat
    platform: str = PLATFORM
    chat_id: str = PLATFORM
    kind: ChatKind = "private"
    bot_id: str = ""
    private_answers: bool = True

    @property
    def user_id(self) -> str:
        return self.chat.user

    @property
    def display_name(self) -> str:
        return self.chat.user

    async def addressed(self, message: Incoming) -> Incoming | None:
        return replace(message, character_id=self.chat.character_id)

    @asynccontextmanager
    async def replying(self, resumed: bool = False) -> AsyncIterator[ReplyStream]:
        yield ConsoleStream(self.chat.out, self.chat.err, self.chat.card_name, self.chat.typing)

    @asynccontextmanager
    async def showing(self, action: Action = "typing") -> AsyncIterator[None]:
        if action == "typing":
            self.chat.typing.show(self.chat.card_name)
        try:
            yield
        finally:
            self.chat.typing.clear()

    async def send_text(
        self, text: str, buttons: Sequence[Button] = (), private: bool = False, speaker: str = ""
    ) -> None:
        out = self.chat.out
        out.write(f"{speaker + ': ' if speaker else ''}{text.rstrip()}\n")
        for button in buttons:  # no buttons in a terminal: the command each one would run
            out.write(f"  {button.command}   ({button.label.removeprefix('✓ ')})\n")
        out.flush()

    async def send_voice(self, note: VoiceNote, caption: str = "") -> bool:
        path = await self.chat.write_note(note.ogg, "ogg")
        self.chat.err.write(f"[voice: {path} ({note.duration_s:.1f} s)]{' ' + caption if caption else ''}\n")
        self.chat.err.flush()
        return True

    async def send_file(self, name: str, data: bytes, caption: str = "", photo: bool = False) -> None:
        path = await self.chat.write_note(data, Path(name).suffix.lstrip(".") or "bin")
        self.chat.err.write(f"[file: {path}]{' ' + caption if caption else ''}\n")
        self.chat.err.flush()

    async def is_chat_admin(self) -> bool:
        return True

    def is_bot_admin(self) -> bool:
        return True  # whoever runs the terminal owns the cards

    async def fetch(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        """A file named in the terminal (its path is the attachment's url)."""
        path = Path(attachment.url)

        def read() -> bytes | NotFetched:
            if not path.is_file():
                return NotFetched(f"{path} is not a file")
            if path.stat().st_size > max_bytes:
                return NotFetched(
                    f"{path.name} is {path.stat().st_size:,} bytes; at most {max_bytes:,} are read"
                )
            return path.read_bytes()[: max_bytes + 1]

        return await asyncio.to_thread(read)


@dataclass
class ConsoleChat:
    runtime: Services
    character_id: str
    user: str
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    notes_written: list[Path] = field(default_factory=list)
    _sent: deque[float] = field(default_factory=deque)  # when the recent piped lines went (see _pace)

    def __post_init__(self) -> None:
        self.surface = ConsoleSurface(self)
        self.typing = TypingIndicator(self.out, enabled=False)  # on for a person at a terminal (run)

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

    @property
    def card_name(self) -> str:
        return self.runtime.characters.get(self.character_id).name

    async def run(self, interactive: bool) -> None:
        card = self.runtime.characters.get(self.character_id)
        self.character_id = card.id
        # Load the model before the first message, so its progress shows while the user reads.
        await self.runtime.router.chain(card)[0].start()
        await self.command("/start")
        if interactive:
            _line_editing()
            self.typing.enabled = self.out.isatty()
            self.err.write("(type /help for commands)\n")
        while True:
            line = await _read_line("you> " if interactive else None)
            if line is None:
                return
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not await self.command(line):
                    return
                continue
            if not interactive and (wait := self._pace()):
                self.err.write(f"[flood control: the next line waits {wait:.0f} s for its turn]\n")
                self.err.flush()
                await asyncio.sleep(wait)
            if await self.say(line) is None:  # dropped on the way: say so, never silently
                self.err.write(f"[not answered: {line[:60]!r}]\n")
                self.err.flush()

    async def say(self, line: str, attachments: tuple[Attachment, ...] = ()) -> Reply | None:
        """One message to the character: its reply streams out, then (with /voice on) a voice note."""
        incoming = Incoming(
            PLATFORM, PLATFORM, self.user, self.user, line, self.character_id, attachments=attachments
        )
        # one line at a time, each answered before the next is read: nothing to gather
        return await self.runtime.conversations.handle(incoming, self.surface, gather=False)

    async def command(self, line: str) -> bool:
        """Run one /command; False for /quit."""
        parsed = parse(line)
        name, args = parsed or ("", "")
        if name in ("quit", "exit"):
            return False
        card = self.runtime.characters.get(self.character_id)
        ctx = Context(self.runtime.commands, self.surface, card, args, default=card.id)
        first, _, rest = args.partition(" ")
        if name == "help":
            await self.surface.send_text(help_text(QUIT))
        elif name == "listen":  # a recording named in the terminal, heard as a voice message
            if not args:
                await self.surface.send_text("Name a recording to send: /listen message.ogg")
            else:
                await self.say("", (Attachment("voice", url=args, name=Path(args).name),))
        elif name == "image":  # a picture named in the terminal, with the words after it as its caption
            if not first:
                await self.surface.send_text("Name a picture to send: /image photo.jpg what do you see?")
            else:
                await self.say(rest, (Attachment("image", url=first, name=Path(first).name),))
        else:
            if name == "sing" and is_score_file(args):  # a score file named in the terminal
                ctx.args, ctx.attachments = "", (Attachment("file", url=args, name=Path(args).name),)
            elif name == "sing" and is_audio_file(first):  # a hummed tune, then the lyrics
                ctx.args, ctx.attachments = rest, (Attachment("audio", url=first, name=Path(first).name),)
            await self.runtime.commands.run(name, ctx)
        self.character_id = ctx.card.id  # /character switches who answers here
        return True

    async def write_note(self, data: bytes, suffix: str) -> Path:
        """A voice note or file the chat produced, under voice.notes_dir."""
        settings = self.runtime.settings
        folder = settings.resolve(settings.voice.notes_dir)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = folder / f"{self.character_id}-{stamp}-{len(self.notes_written) + 1}.{suffix}"

        def write() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)
        self.notes_written.append(path)
        return path
