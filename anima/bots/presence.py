"""What every platform's bot tells the core once it knows who it is (Telegram's getMe, Discord's
login), and takes back when it stops: where its character may write first (core/proactive.py), how
it speaks in a cast (core/casts.py), and the line an operator reads at the start."""

from __future__ import annotations

from collections.abc import Callable

from anima.bots.services import Services
from anima.core.casts import MemberSurface
from anima.core.surface import ChatOpener


def bot_character(runtime: Services, character: str | None) -> str:
    """The id of the character a bot serves: its own setting, else the configuration's default."""
    return runtime.characters.get(character or runtime.settings.default_character).id


class Presence:
    """One bot's standing with the core, from `arrive` to `leave`."""

    def __init__(self, runtime: Services, platform: str, title: str, character: str | None) -> None:
        self._runtime, self.platform, self.title = runtime, platform, title  # title: "Telegram"
        self.character = bot_character(runtime, character)
        self.bot_id = ""  # the bot's account, once it arrived
        self._unvoice: Callable[[], None] = lambda: None

    def arrive(
        self, bot_id: str, username: str, opener: ChatOpener, voice: MemberSurface, speaks_as: str | None
    ) -> str:
        """The bot is `username` (account `bot_id`): the core may open chats through `opener` and
        cast members speak through `voice` (as `speaks_as`; None: any character). Returns the line
        to log ("Aiko is online as @aiko_bot on Telegram")."""
        self.bot_id = bot_id
        self._runtime.proactive.reach(self.platform, bot_id, opener)
        self._unvoice = self._runtime.conversations.casts.speaks(self.platform, speaks_as, voice)
        name = self._runtime.characters.get(self.character).name
        return f"{name} is online as @{username} on {self.title}"

    def leave(self) -> None:
        """Nothing new goes out through this bot: no chat opened unprompted, no cast line spoken."""
        self._unvoice()
        self._unvoice = lambda: None
        if self.bot_id:
            self._runtime.proactive.unreach(self.platform, self.bot_id)
