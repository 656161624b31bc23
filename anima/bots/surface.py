"""What every platform's surface (the contract is anima/core/surface.py) does the same way, written
once: who and where, a whole text in the platform's pieces with its buttons under the last,
"typing…" kept up while a reply is made, a voice note the platform may refuse, attachments fetched
under a size cap, and who may change what. A platform's surface gives only its calls (below)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from anima.commands.buttons import button_data
from anima.core import sending
from anima.core.addressing import Heard, addressed
from anima.core.messages import Attachment, Incoming, ReplyStream
from anima.core.sending import Transient
from anima.core.streaming import showing_while
from anima.core.surface import Action, Button, ChatKind, NotFetched, VoiceNote, fetch_capped

if TYPE_CHECKING:
    from anima.bots.adapter import BotAdapter

log = logging.getLogger(__name__)

TYPING_GRACE_S = 0.3  # a reply that starts sooner needs no indicator (and saves a request)
DOWNLOAD_TIMEOUT_S = 60.0  # for an attachment's bytes to come
K = TypeVar("K")  # the platform's buttons, as sent under a message


class BotSurface(Generic[K]):
    """One chat of one bot, seen from a message or a command."""

    platform: str
    private_answers = False  # whether a text can be shown to the person alone (see Surface)
    show_every_s: ClassVar[float]  # how often "typing…" is sent again, before the platform hides it
    refusals: ClassVar[tuple[type[BaseException], ...]]  # the library's errors for a refused request
    unreachable: ClassVar[tuple[type[BaseException], ...]] = ()  # those that may pass (`transient`)
    max_button_data: ClassVar[int]  # the platform's limit on the data a button carries, in bytes
    bot_key = ""  # whose chat settings these are: each bot's own (Telegram), or the platform's ("")
    guild_id: str | None = None  # the server the chat belongs to, if the platform has servers
    chats: Sequence[str] = ()  # where the chat's character binding is looked up; (): the chat itself

    def __init__(
        self,
        adapter: BotAdapter[Any, Any, Any],
        chat_id: str,
        user_id: str,
        display_name: str,
        kind: ChatKind,
    ) -> None:
        self.chat_id, self.user_id, self.display_name, self.kind = chat_id, user_id, display_name, kind
        self.bot_id = adapter.presence.bot_id
        self.runtime = adapter.runtime
        self.card_id = adapter.presence.character  # who speaks here (also set by `addressed`)
        self._admins = adapter.settings.admins

    # -- what a platform gives ---------------------------------------------------------------

    async def heard(self, message: Incoming) -> Heard:
        """What the platform tells of whom the message is for (the rules: anima/core/addressing)."""
        raise NotImplementedError

    async def stream(self, resumed: bool) -> ReplyStream:
        """Where one reply streams to (see Surface.replying)."""
        raise NotImplementedError

    async def send_file(self, name: str, data: bytes, caption: str = "", photo: bool = False) -> None:
        raise NotImplementedError

    def transient(self, exc: BaseException) -> Transient | None:
        """A failure that may pass (the platform unreachable after the library's retries), else None."""
        return Transient() if isinstance(exc, self.unreachable) else None

    def pieces(self, text: str) -> list[str]:
        """A whole text as the platform's messages (split at its limit, mentions defused)."""
        raise NotImplementedError

    def markup(self, buttons: Sequence[tuple[str, str]]) -> K:
        """Buttons (label, data) as the platform shows them under a message."""
        raise NotImplementedError

    async def post(self, piece: str, first: bool, keyboard: K | None, private: bool) -> None:
        """One piece of a whole text; the first answers the person's message."""
        raise NotImplementedError

    async def show(self, action: Action) -> None:
        """Tell the chat once that the bot is typing (or recording); the platform hides it later."""
        raise NotImplementedError

    async def post_voice(self, note: VoiceNote, caption: str) -> None:
        """A voice note; raises one of `refusals` when the platform does not take it."""
        raise NotImplementedError

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        """An attachment's bytes (the cap is checked again on what came)."""
        raise NotImplementedError

    async def is_group_admin(self) -> bool:
        """Whether the person may change a group chat's settings."""
        raise NotImplementedError

    # -- the contract, written once ----------------------------------------------------------

    async def addressed(self, message: Incoming) -> Incoming | None:
        """The core's rules over what the platform tells; the character found speaks here."""
        characters = self.runtime.characters  # looked up each time: the library may be reloaded
        found = addressed(message, characters, await self.heard(message))
        if found is not None and found.character_id:
            self.card_id = found.character_id
        return found

    @asynccontextmanager
    async def replying(self, resumed: bool = False) -> AsyncIterator[ReplyStream]:
        stream = await self.stream(resumed)
        async with self.delivering():
            yield stream

    def keyboard(self, buttons: Sequence[Button]) -> K | None:
        """Each button carrying who may press it and the line it runs (anima.commands.buttons), so a
        press is answered from its data alone; one whose data does not fit is left out."""
        fitting = [
            (b.label, data)
            for b in buttons
            if (data := button_data(self.user_id, b.command, self.max_button_data))
        ]
        return self.markup(fitting) if fitting else None

    def delivering(self) -> AbstractAsyncContextManager[None]:
        """A send whose failure may pass becomes NotDelivered (anima.core.sending)."""
        return sending.delivering(self.platform.title(), self.transient)

    async def send_text(
        self, text: str, buttons: Sequence[Button] = (), private: bool = False, speaker: str = ""
    ) -> None:
        """A complete text (a command's answer), split when it is long; its buttons under its end."""
        pieces, keyboard = self.pieces(text), self.keyboard(buttons) if buttons else None
        async with self.delivering():
            for i, piece in enumerate(pieces):
                await self.post(piece, i == 0, keyboard if i == len(pieces) - 1 else None, private)

    def showing(self, action: Action = "typing") -> AbstractAsyncContextManager[None]:
        """ "typing…" or "recording…", sent again before the platform hides it; a voice note takes
        long enough to make that the indicator is worth it at once."""
        grace = 0.0 if action == "recording" else TYPING_GRACE_S
        return showing_while(lambda: self.show(action), self.show_every_s, grace)

    async def send_voice(self, note: VoiceNote, caption: str = "") -> bool:
        try:
            async with self.delivering():
                await self.post_voice(note, caption)
        except self.refusals as exc:  # e.g. the person does not accept voice messages
            why = type(exc).__name__
            log.warning("%s did not take the voice note in %s: %s", self.platform, self.chat_id, why)
            return False
        return True

    async def fetch(self, attachment: Attachment, max_bytes: int) -> bytes | NotFetched:
        refusals = (*self.refusals, TimeoutError)
        download = lambda: asyncio.wait_for(self.download(attachment, max_bytes), DOWNLOAD_TIMEOUT_S)  # noqa: E731  # called once, by fetch_capped
        return await fetch_capped(attachment, max_bytes, download, self.platform.title(), refusals)

    async def is_chat_admin(self) -> bool:
        if self.kind == "private":
            return True
        try:
            return await self.is_group_admin()
        except self.refusals as exc:
            why = type(exc).__name__
            log.warning("checking %s's status in %s failed: %s", self.user_id, self.chat_id, why)
            return False

    def is_bot_admin(self) -> bool:
        return self.user_id in self._admins
