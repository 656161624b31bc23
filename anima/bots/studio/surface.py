"""The studio's test chat as a surface (anima.core.surface): the browser is one private chat.

A reply's pieces go into a queue the HTTP handler streams to the browser as they come; commands'
answers and files are queued whole. The person is a test person of the studio, whose memory the
creator can wipe; they own the bot (they are logged in to the studio).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from anima.core.messages import Attachment, Incoming, Reply
from anima.core.surface import Action, Button, ChatKind, NotFetched, VoiceNote

PLATFORM = "studio"


class StudioStream:
    """One reply: each piece is queued as {"delta": …}, the end as {"reply": …, "notices": …}."""

    def __init__(self, events: asyncio.Queue[dict[str, Any]], started: float) -> None:
        self.events, self.started = events, started
        self.first_piece_s: float | None = None

    async def delta(self, text: str) -> None:
        if self.first_piece_s is None:
            self.first_piece_s = time.perf_counter() - self.started
        await self.events.put({"delta": text})

    async def finish(self, reply: Reply) -> None:
        await self.events.put(
            {
                "reply": reply.text,
                "notices": list(reply.notices),
                "backend": reply.backend,
                "failed": reply.failed,
                "first_piece_s": self.first_piece_s,
            }
        )


@dataclass
class StudioSurface:
    """The browser's test chat with one character, as the studio's test person."""

    character_id: str
    user: str
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    started: float = field(default_factory=time.perf_counter)
    platform: str = PLATFORM
    kind: ChatKind = "private"
    bot_id: str = ""
    private_answers: bool = True
    chat_id: str = ""  # the test person's own chat: "studio:<user>"

    def __post_init__(self) -> None:
        self.chat_id = self.chat_id or f"{PLATFORM}:{self.user}"

    @property
    def user_id(self) -> str:
        return self.user

    @property
    def display_name(self) -> str:
        return self.user

    async def addressed(self, message: Incoming) -> Incoming | None:
        return replace(message, character_id=self.character_id)

    @asynccontextmanager
    async def replying(self, resumed: bool = False) -> AsyncIterator[StudioStream]:
        yield StudioStream(self.events, self.started)

    def showing(self, action: Action = "typing") -> AbstractAsyncContextManager[None]:
        return nullcontext()

    async def send_text(
        self, text: str, buttons: Sequence[Button] = (), private: bool = False, speaker: str = ""
    ) -> None:
        await self.events.put({"text": text, "speaker": speaker, "buttons": [b.command for b in buttons]})

    async def send_voice(self, note: VoiceNote, caption: str = "") -> bool:
        await self.events.put({"text": f"(a voice note of {note.duration_s:.1f} s) {caption}".strip()})
        return True

    async def send_file(self, name: str, data: bytes, caption: str = "", photo: bool = False) -> None:
        await self.events.put({"text": f"(a file: {name}, {len(data):,} bytes) {caption}".strip()})

    async def is_chat_admin(self) -> bool:
        return True

    def is_bot_admin(self) -> bool:
        return True  # whoever is logged in to the studio owns the cards

    async def fetch(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        return NotFetched("the studio's test chat sends no attachments")

    def incoming(self, text: str) -> Incoming:
        return Incoming(PLATFORM, self.chat_id, self.user, self.user, text, self.character_id)
