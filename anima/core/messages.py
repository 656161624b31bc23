"""The platform-neutral message types every adapter translates to and from: the bottom of the core.

This module imports nothing of Anima's, so the LLM, memory and character layers can use these
types without pulling in the prompt builder or the pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]  # who a chat message (to or from an LLM) is from
HistoryRole = Literal["user", "assistant"]  # who said a message stored in a conversation's history
OnPiece = Callable[[str], Awaitable[None]]  # takes each piece of a reply's text as it is generated


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat prompt, in the OpenAI / ChatML sense."""

    role: Role
    content: str
    # JPEGs shown with the text to a backend with vision (anima/seeing); keyword-only, so subclasses
    # (memory's StoredMessage) keep their positional fields
    images: tuple[bytes, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True)
class Attachment:
    kind: str  # "image", "audio", "file", …
    url: str = ""  # where the adapter fetches it from (a Telegram file id, a Discord CDN URL, a path)
    name: str = ""
    mime_type: str = ""
    size: int | None = None  # bytes, when the platform says: a fetch over its cap is refused before it starts


@dataclass(frozen=True)
class KeptPicture:
    """What is stored of a picture someone sent: the platform's reference to the original (never the
    original), its size, and a small JPEG thumbnail (anima/seeing)."""

    reference: str
    sha256: str
    width: int
    height: int
    thumbnail: bytes


@dataclass(frozen=True)
class Incoming:
    """One message from a person, as every platform adapter hands it to the core."""

    platform: str
    chat_id: str
    user_id: str
    display_name: str
    text: str
    character_id: str | None = None  # None: the configured default character
    message_id: str | None = None
    reply_to: str | None = None
    is_private: bool = True
    mentions_bot: bool = False  # it calls on the bot: an @mention, a reply to or the name of a character
    from_bot: bool = False  # another bot (or a webhook) wrote it, not a person
    attachments: tuple[Attachment, ...] = ()
    persona: str = ""  # how the user describes themself (Discord's /persona), told to the character
    chat_context: str = ""  # recent lines of a group chat, shared by its members (adapters fill it)
    guild_id: str | None = None  # the server (Discord guild) the chat is in: its admins' settings cover it
    spoken: bool = False  # the text was heard in the message's recording (a voice message)
    images: tuple[bytes, ...] = ()  # the pictures sent with it, prepared (JPEG, ≤ 1024 px; anima/seeing)
    kept: tuple[KeptPicture, ...] = ()  # what is stored of them with the message
    bot_id: str = ""  # the bot account it came to (the surface's; its admins see what came of it)


@dataclass
class Reply:
    """What the character answers, with what the person should know about how it was made."""

    text: str
    character_id: str
    character_name: str
    notices: list[str] = field(default_factory=list)
    cut: bool = False  # the stream broke off: the text is what arrived before it did
    failed: bool = False  # the LLM could not answer: text is the in-character apology
    backend: str = ""

    @property
    def noted(self) -> str:
        """The text with its notices after it, in parentheses (for chats without a muted style)."""
        notes = "\n".join(f"({notice})" for notice in self.notices)
        return f"{self.text}\n\n{notes}" if self.text and notes else self.text or notes


@dataclass(frozen=True)
class ConversationKey:
    """One conversation: a character talking with one user in one chat."""

    platform: str
    chat_id: str
    user_id: str
    character_id: str


class ReplyStream(Protocol):
    """Where a reply goes while it is being generated (a terminal, a Telegram draft, …)."""

    async def delta(self, text: str) -> None: ...

    async def finish(self, reply: Reply) -> None: ...


class DiscardStream:
    """A ReplyStream for callers that only want the returned Reply."""

    async def delta(self, text: str) -> None:
        return None

    async def finish(self, reply: Reply) -> None:
        return None
