"""What a command is given: the chat (its Surface), who answers there, and the words after its name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from anima.characters.card import CharacterCard
from anima.core.messages import Attachment, Incoming
from anima.core.surface import Surface

if TYPE_CHECKING:
    from anima.commands.table import Commands


@dataclass
class Context:
    """One command run. `card`: the character answering in this chat; `bot_key` and `default`: where
    the chat's character binding lives and what it falls back to (see anima.core.preferences)."""

    app: Commands
    surface: Surface
    card: CharacterCard
    args: str = ""
    attachments: tuple[Attachment, ...] = ()
    bot_key: str = ""
    default: str = ""
    parent_chat: str | None = None  # a thread's channel: a binding there covers the thread too
    guild_id: str | None = None  # a Discord server: its safety override covers every chat in it

    @property
    def platform(self) -> str:
        return self.surface.platform

    @property
    def chat_ids(self) -> list[str]:
        """Where the chat's character binding is looked up: the chat, then its parent."""
        return [self.surface.chat_id, *([self.parent_chat] if self.parent_chat else [])]

    @property
    def words(self) -> list[str]:
        return self.args.split()

    def incoming(self, text: str = "") -> Incoming:
        """The person's message as the pipeline reads it (a greeting, a song request)."""
        surface = self.surface
        return Incoming(
            platform=surface.platform,
            chat_id=surface.chat_id,
            user_id=surface.user_id,
            display_name=surface.display_name,
            text=text,
            character_id=self.card.id,
            is_private=surface.kind == "private",
            guild_id=self.guild_id,
            bot_id=surface.bot_id,
        )
