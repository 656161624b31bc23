"""A neutral chat (anima.core.surface.Surface) that records what a person would see.

Commands and the conversation service are tested once against it; each platform's tests only check
that its adapter translates in and delivers out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

from anima.core.messages import Attachment, Incoming, Reply, ReplyStream
from anima.core.surface import Action, Button, ChatKind, NotFetched, VoiceNote
from anima.errors import NotDelivered


@dataclass
class Shown:
    """One thing the chat shows: a text (with its buttons), a reply, a voice note or a file."""

    kind: str  # "text", "reply", "voice", "file"
    text: str
    buttons: tuple[Button, ...] = ()
    private: bool = False
    data: bytes = b""


class RecordedStream:
    def __init__(self, chat: FakeSurface, fail: bool) -> None:
        self.chat, self.fail = chat, fail
        self.pieces: list[str] = []

    async def delta(self, text: str) -> None:
        self.pieces.append(text)

    async def finish(self, reply: Reply) -> None:
        if self.fail:
            raise NotDelivered("the fake chat is unreachable")
        self.chat.shown.append(Shown("reply", reply.text))
        self.chat.replies.append(reply)
        if self.chat.room is not None:
            self.chat.room.append((reply.character_id, reply.text))


@dataclass
class FakeSurface:
    platform: str = "test"
    chat_id: str = "chat"
    user_id: str = "lin"
    display_name: str = "Lin"
    kind: ChatKind = "private"
    bot_id: str = "bot"
    private_answers: bool = False
    character_id: str | None = "aiko"
    chat_admin: bool = False
    bot_admin: bool = False
    for_bot: bool = True  # False: every message is chatter, not addressed to the bot
    unreachable: bool = False  # replies raise NotDelivered (the platform is down)
    files: dict[str, bytes] = field(default_factory=dict)  # attachment url -> bytes
    shown: list[Shown] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    resumed: list[bool] = field(default_factory=list)  # `replying(resumed)` per reply
    room: list[tuple[str, str]] | None = None  # shared by several surfaces: (character id, text) in order

    def texts(self) -> list[str]:
        return [s.text for s in self.shown]

    def last(self) -> Shown:
        return self.shown[-1]

    async def addressed(self, message: Incoming) -> Incoming | None:
        if not self.for_bot:
            return None
        return replace(message, character_id=message.character_id or self.character_id)

    @asynccontextmanager
    async def replying(self, resumed: bool = False) -> AsyncIterator[ReplyStream]:
        self.resumed.append(resumed)
        yield RecordedStream(self, self.unreachable)

    @asynccontextmanager
    async def showing(self, action: Action = "typing") -> AsyncIterator[None]:
        self.actions.append(action)
        yield

    async def send_text(
        self, text: str, buttons: Sequence[Button] = (), private: bool = False, speaker: str = ""
    ) -> None:
        self.shown.append(Shown("text", text, tuple(buttons), private))

    async def send_voice(self, note: VoiceNote, caption: str = "") -> bool:
        self.shown.append(Shown("voice", caption, data=note.ogg))
        return True

    async def send_file(self, name: str, data: bytes, caption: str = "", photo: bool = False) -> None:
        self.shown.append(Shown("file", name, data=data))

    async def is_chat_admin(self) -> bool:
        return self.kind == "private" or self.chat_admin

    def is_bot_admin(self) -> bool:
        return self.bot_admin

    async def fetch(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        data = self.files.get(attachment.url)
        if data is None:
            return NotFetched(f"{attachment.name} could not be downloaded")
        if len(data) > max_bytes:
            return NotFetched(f"{attachment.name} is {len(data):,} bytes; at most {max_bytes:,}")
        return data
