"""When the bot answers a Discord message, and which character does.

Always in DMs; in server channels and threads when the bot is mentioned, when the message replies to
one of its characters, or when an admin bound a character to the channel. Never to itself, to system
messages, or to other bots unless allow-listed, and at most MAX_BOT_TURNS answers in a row to bots.
Which character: the one replied to, else the one whose name opens the message, else the one bound to
the thread or its channel, else the bot's own.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import discord

from anima.app import Runtime
from anima.bots.discord.webhooks import PersonaWebhooks
from anima.characters.library import CharacterLibrary
from anima.errors import AnimaError

MAX_BOT_TURNS = 3  # answers in a row to allow-listed bots in one channel, before a person must speak
SEEN_MESSAGES = 10_000  # ids remembered to answer a message once even if the gateway replays it
ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
_BOLD_NAME = re.compile(r"^\*\*(.+?)\*\*: ")


@dataclass(frozen=True)
class Addressed:
    """A message the bot answers: who answers, and the text with the bot's mention taken out."""

    character_id: str
    text: str
    mentioned: bool


class Addressing:
    def __init__(
        self,
        client: discord.Client,
        runtime: Runtime,
        own_character: str,
        webhooks: PersonaWebhooks,
        allow_bots: set[int],
    ) -> None:
        self._client = client
        self._runtime = runtime
        self.own_character = own_character
        self._webhooks = webhooks
        self._allow_bots = allow_bots
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._bot_turns: dict[int, int] = {}
        self._names: tuple[tuple[str, ...], re.Pattern[str]] | None = None

    @property
    def _characters(self) -> CharacterLibrary:
        return self._runtime.characters  # looked up each time: the library may be reloaded

    def ignored(self, message: discord.Message) -> bool:
        """Messages never answered, decided without any I/O; also marks `message` as seen and counts
        bot turns."""
        me = self._client.user
        if me is None or message.author.id == me.id or message.type not in ANSWERED_TYPES:
            return True
        if message.id in self._seen:
            return True
        self._seen[message.id] = None
        if len(self._seen) > SEEN_MESSAGES:
            self._seen.popitem(last=False)
        if not (message.author.bot or message.webhook_id is not None):
            self._bot_turns.pop(message.channel.id, None)  # a person spoke: bots may be answered again
            return False
        return message.author.id not in self._allow_bots or not self._bot_turn(message.channel.id)

    async def resolve(self, message: discord.Message) -> Addressed | None:
        """Who answers `message`, or None when the bot stays quiet."""
        me = self._client.user
        assert me is not None
        mentioned = any(u.id == me.id for u in message.mentions) or any(
            role.tags is not None and role.tags.bot_id == me.id for role in message.role_mentions
        )
        replied = await self._replied_character(message)
        channel = message.channel
        chat_ids = [str(channel.id)]
        if isinstance(channel, discord.Thread) and channel.parent_id:
            chat_ids.append(str(channel.parent_id))
        bound = await self._runtime.conversations.preferences.bound("discord", chat_ids, "")
        if not (message.guild is None or mentioned or replied or bound):
            return None
        text = self._readable_text(message, me)
        character = replied or self._named(text) or self._known(bound) or self.own_character
        return Addressed(character, text, mentioned)

    def _bot_turn(self, channel_id: int) -> bool:
        """Allow-listed bots get a few messages in a row, so that two bots never loop. Counted in
        arrival order, before any await, so that concurrent handling cannot reorder the count."""
        turns = self._bot_turns.get(channel_id, 0)
        if turns >= MAX_BOT_TURNS:
            return False
        self._bot_turns[channel_id] = turns + 1
        return True

    async def _replied_character(self, message: discord.Message) -> str | None:
        """The character who wrote the message that `message` replies to, if it was one of ours."""
        reference = message.reference
        parent = reference.resolved if reference is not None else None
        if not isinstance(parent, discord.Message):
            return None
        me = self._client.user
        if me is not None and parent.author.id == me.id:
            bold = _BOLD_NAME.match(parent.content)
            return (self._known(bold.group(1)) if bold else None) or self.own_character
        if parent.webhook_id is not None and await self._webhooks.is_ours(message.channel, parent.webhook_id):
            return self._known(parent.author.name)
        return None

    def _known(self, name: str | None) -> str | None:
        """The id of the card called `name` (id or display name), None if there is none (any more)."""
        if not name:
            return None
        try:
            return self._characters.get(name).id
        except AnimaError:
            return None

    def _named(self, text: str) -> str | None:
        """The character whose name opens the message ("Grimble, what do you think?")."""
        names = tuple(sorted({n for c in self._characters.cards.values() for n in (c.id, c.name)}, key=len))
        if self._names is None or self._names[0] != names:
            alternatives = "|".join(re.escape(n) for n in reversed(names))
            self._names = names, re.compile(rf"^\W*(?:hey\s+|hi\s+)?({alternatives})\b", re.IGNORECASE)
        match = self._names[1].match(text)
        return self._known(match.group(1)) if match else None

    @staticmethod
    def _readable_text(message: discord.Message, me: discord.ClientUser) -> str:
        """The content without the bot's mention, other mentions as @names the model can read."""
        names = {u.id: u.display_name for u in message.mentions}
        names |= {r.id: r.name for r in message.role_mentions}

        def readable(match: re.Match[str]) -> str:
            target = int(match.group(2))
            if target == me.id or (match.group(1) == "&" and _is_bot_role(message, target, me.id)):
                return ""
            return "@" + names.get(target, "someone")

        return re.sub(r"<@([!&]?)(\d+)>", readable, message.content).strip()


def _is_bot_role(message: discord.Message, role_id: int, bot_id: int) -> bool:
    return any(
        r.id == role_id and r.tags is not None and r.tags.bot_id == bot_id for r in message.role_mentions
    )
