"""What was said lately in each group chat, so the character follows a conversation among several.

Each member's own talk with the character is in their stored conversation; this adds the lines of
the others (in memory only, lost on restart). With Telegram's privacy mode on (the default), the bot
sees only messages addressed to it; turn it off in BotFather to let it follow everything.
"""

from __future__ import annotations

from collections import deque

from anima.core.recent import Recent

MAX_LINE_CHARS = 200
MAX_GROUPS = 10_000


class GroupContext:
    def __init__(self, lines: int) -> None:
        self.lines = lines
        self._chats: Recent[str, deque[tuple[str, str]]] = Recent(MAX_GROUPS)

    def add(self, chat_id: str, about_user: str, speaker: str, text: str) -> None:
        """A line by `speaker`; `about_user` is its author, or the person a reply of the bot answers."""
        if not self.lines:
            return
        recent = self._chats[chat_id] = self._chats.get(chat_id) or deque(maxlen=self.lines)  # the newest
        line = " ".join(text.split())
        if len(line) > MAX_LINE_CHARS:
            line = line[: MAX_LINE_CHARS - 1] + "…"
        recent.append((about_user, f"{speaker}: {line}"))

    def for_user(self, chat_id: str, user_id: str) -> str:
        """The recent lines that are not already in `user_id`'s own conversation."""
        recent = self._chats.get(chat_id, ())
        return "\n".join(line for about, line in recent if about != user_id)

    def forget_user(self, user_id: str) -> None:
        for recent in self._chats.values():
            kept = [(about, line) for about, line in recent if about != user_id]
            recent.clear()
            recent.extend(kept)
