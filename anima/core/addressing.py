"""Whether the bot answers a message in a group, and which character does: the rules, written once
over what an adapter read from its platform (a mention of the bot, the message replied to, a binding).

Always in private chats; in a group when the bot is mentioned, when the message replies to one of
its characters, when a character's name opens it, or when an admin bound a character to the chat.
Other bots are answered only when allow-listed, and only while a run of bot messages in the chat
(the bot's own included) is at most MAX_BOT_TURNS long: a person must speak before more, so that
two bots never loop. Which character: the one replied to, else the one whose name opens the
message, else the one bound to the chat, else the bot's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from anima.characters.library import CharacterLibrary
from anima.core.messages import Incoming
from anima.core.recent import Recent
from anima.errors import AnimaError

MAX_BOT_TURNS = 3  # bot messages in a row in one chat (its own too) after which bots get no answer
SEEN_MESSAGES = 10_000  # ids remembered to answer a message once even if the platform replays it


class Arrivals:
    """What is decided as messages arrive, before any await (so that handling them concurrently
    cannot reorder it): a message the platform replays is dropped, and bots take turns."""

    def __init__(self, allow_bots: set[str]) -> None:
        self.allow_bots = allow_bots  # user ids
        self._seen: Recent[str, None] = Recent(SEEN_MESSAGES)
        self._bot_turns: dict[str, int] = {}

    def admit(self, message: Incoming) -> bool:
        """False for a message seen already, for a bot not allow-listed, and for one past its turns."""
        # without an id it cannot be recognised again
        if message.message_id is not None and not self._seen.first_time(message.message_id):
            return False
        if not message.from_bot:
            self._bot_turns.pop(message.chat_id, None)  # a person spoke: bots may be answered again
            return True
        # Every bot message in a row counts, the bot's own too (as the platform shows them back): an
        # allow-listed bot's is answered while the run, with it, is at most MAX_BOT_TURNS long.
        turns = self._bot_turns[message.chat_id] = self._bot_turns.get(message.chat_id, 0) + 1
        return message.user_id in self.allow_bots and turns <= MAX_BOT_TURNS


@dataclass(frozen=True)
class Heard:
    """What a platform tells of whom a message is for. `own`: the bot's character (or the chat's
    choice); `text`: the words as the model should read them (the bot's mention taken out);
    `replied`: the character whose message it replies to; `bound`: the one bound to the chat."""

    own: str
    text: str
    mentioned: bool = False
    replied: str | None = None
    bound: str | None = None


def addressed(message: Incoming, characters: CharacterLibrary, heard: Heard) -> Incoming | None:
    """`message` as its character reads it, or None when the bot stays quiet."""
    called = named(characters, heard.text)
    if not (message.is_private or heard.mentioned or heard.replied or called or heard.bound):
        return None
    character = heard.replied or called or heard.bound or heard.own
    calls = heard.mentioned or heard.replied is not None or called is not None
    return replace(message, character_id=character, text=heard.text, mentions_bot=calls)


def named(characters: CharacterLibrary, text: str) -> str | None:
    """The character whose name opens the message ("Grimble, what do you think?")."""
    names = tuple(sorted({n for c in characters.cards.values() for n in (c.id, c.name)}, key=len))
    match = _opening_name(names).match(text)
    return known(characters, match.group(1)) if match else None


def known(characters: CharacterLibrary, name: str | None) -> str | None:
    """The id of the card called `name` (id or display name), None if there is none (any more)."""
    if not name:
        return None
    try:
        return characters.get(name).id
    except AnimaError:
        return None


@lru_cache(maxsize=8)  # the names change only when cards are installed or removed
def _opening_name(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in reversed(names))  # the longest first
    return re.compile(rf"^\W*(?:hey\s+|hi\s+)?({alternatives})\b", re.IGNORECASE)
