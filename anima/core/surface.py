"""What a chat can do, whatever the platform: the contract each adapter implements once.

An adapter makes one `Surface` per message it receives (or per command someone runs): it knows the
chat, the person and the message it answers, and how to show things there. The core and the
commands talk only to this contract; they never see a `telegram.Message` or a `discord.Interaction`.
What a command returns (`Answer`: `Text`, `File`, `Voice`) is a value; `deliver` shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from anima.core.messages import Attachment, Incoming, ReplyStream

ChatKind = Literal[
    "private", "group"
]  # a one-to-one chat (a DM, the terminal), or a chat with several people
Action = Literal["typing", "recording"]  # what the chat shows while something is being made
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Button:
    """A button under a text. Pressing it runs `command` ("/forget yes") as the person who was asked;
    adapters let no one else press it, and a command line that no longer parses gets a clear answer."""

    label: str
    command: str


NOT_YOURS = "This button is for the person who asked."  # what anyone else pressing a Button is told
STALE_BUTTON = "That button no longer works; run the command again."  # its command line does not parse


@dataclass(frozen=True)
class Text:
    """A complete text. `private`: only the asker should see it where the platform can do that
    (Discord's ephemeral answers); elsewhere it is sent to the chat like any text."""

    text: str
    buttons: tuple[Button, ...] = ()
    private: bool = False
    speaker: str = ""  # said by this character (a greeting), for surfaces that show who speaks


@dataclass(frozen=True)
class VoiceNote:
    """A finished voice note (made by anima.voice): OGG/Opus, mono, 48 kHz, what Telegram's sendVoice
    and Discord's voice messages take as is."""

    ogg: bytes
    duration_s: float
    waveform_b64: str  # Discord's waveform: base64 of ≤ 256 one-byte amplitudes, at most one per 100 ms
    mime: Literal["audio/ogg"] = "audio/ogg"


@dataclass(frozen=True)
class Voice:
    note: VoiceNote
    caption: str = ""  # said in text next to the note ("🎤 Aiko sings (12 s)")


@dataclass(frozen=True)
class File:
    name: str
    data: bytes
    caption: str = ""
    photo: bool = False  # shown as a picture where the platform shows pictures


Answer = Text | File | Voice
Answers = Answer | list[Answer]  # what a command returns


@dataclass(frozen=True)
class NotFetched:
    """Why an attachment's bytes did not come: too large, or the platform would not give them."""

    reason: str


def too_large(name: str, size: int | None, max_bytes: int) -> NotFetched | None:
    """Why a file of `size` bytes is not fetched, or None when it fits (or its size is not known)."""
    if size is None or size <= max_bytes:
        return None
    return NotFetched(f"{name} is {size:,} bytes; a file may have at most {max_bytes:,} here")


async def fetch_capped(
    attachment: Attachment,
    max_bytes: int,
    download: Callable[[], Awaitable[bytes | NotFetched]],
    platform: str,
    failures: tuple[type[BaseException], ...],
) -> bytes | NotFetched:
    """`Surface.fetch` around a platform's `download`: refused by the declared size first, then by the
    size of what came; a download failing with `failures` is said in words of our own."""
    name = attachment.name or "the file"
    if refused := too_large(name, attachment.size, max_bytes):
        return refused
    try:
        data = await download()
    except failures as exc:
        log.warning("could not download %s: %s", name, type(exc).__name__)
        return NotFetched(f"I could not download {name} from {platform}; please send it again")
    if isinstance(data, NotFetched):
        return data
    return too_large(name, len(data), max_bytes) or data


class Surface(Protocol):
    """One chat, seen from one incoming message or command. Every method is safe to call in a group:
    an adapter defuses mentions in what it sends, and never shows a platform library's exception text."""

    platform: str
    chat_id: str
    kind: ChatKind
    bot_id: str  # the bot account on the platform: several bots may share one chat id
    private_answers: bool  # a Text(private=True) is shown to the person alone (Discord's ephemeral)

    @property
    def user_id(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    async def addressed(self, message: Incoming) -> Incoming | None:
        """The message as the character should read it (which character, the chat's recent lines), or
        None when it is not for the bot (group chatter). Called in arrival order, once per message."""
        ...

    def replying(self, resumed: bool = False) -> AbstractAsyncContextManager[ReplyStream]:
        """Where one reply streams to, shown with edits as it grows; the final text is always shown.
        `resumed`: the reply to a message received before a crash (a fragment may be showing)."""
        ...

    def showing(self, action: Action = "typing") -> AbstractAsyncContextManager[None]:
        """Show "typing…" (or "recording…") in the chat while the body runs."""
        ...

    async def send_text(
        self, text: str, buttons: Sequence[Button] = (), private: bool = False, speaker: str = ""
    ) -> None: ...

    async def send_voice(self, note: VoiceNote, caption: str = "") -> bool:
        """False when the platform did not take the note (the caller can still send its text)."""
        ...

    async def send_file(self, name: str, data: bytes, caption: str = "", photo: bool = False) -> None: ...

    async def is_chat_admin(self) -> bool:
        """Whether the person may change this chat's settings: always in a private chat; in a group,
        when the platform says they administer it (a failed check answers False)."""
        ...

    def is_bot_admin(self) -> bool:
        """Whether the person is one of this bot's admins (the card owners, `admins` in config)."""
        ...

    async def fetch(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        """An attachment's bytes, never more than `max_bytes` (checked before and while downloading)."""
        ...


class ChatOpener(Protocol):
    """How an adapter opens one of its chats for a message nobody asked for (a character writing
    first, anima/core/proactive.py): the chat's Surface as seen by `user_id`, speaking as the
    character `character_id`, or None when the chat cannot be reached any more. Registered with
    `runtime.proactive.reach(platform, bot_id, opener)`."""

    async def __call__(
        self, chat_id: str, user_id: str, display_name: str, character_id: str
    ) -> Surface | None: ...


async def deliver(surface: Surface, answers: Answers) -> None:
    """Show a command's answer(s) in the chat, in order."""
    for answer in answers if isinstance(answers, list) else [answers]:
        if isinstance(answer, Text):
            await surface.send_text(answer.text, answer.buttons, answer.private, answer.speaker)
        elif isinstance(answer, Voice):
            if not await surface.send_voice(answer.note, answer.caption):
                await surface.send_text("The platform did not take the voice note; please try again.")
        else:
            await surface.send_file(answer.name, answer.data, answer.caption, answer.photo)
