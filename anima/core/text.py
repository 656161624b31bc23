"""Text as chats take it: cut into messages at natural breaks, and mentions defused for groups."""

from __future__ import annotations

import re
from collections.abc import Callable

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)|[。！？]")
_MENTION = re.compile(r"(?<!\w)@(?=[A-Za-z0-9_]{4,})")


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Cut `text` into messages of at most `limit` (as the platform `measure`s length: Telegram
    counts UTF-16 units), preferring the last paragraph break, then line break, sentence end and
    space in the second half of each piece."""
    pieces: list[str] = []
    rest = text.strip()
    while measure(rest) > limit:
        head = _prefix_within(rest, limit, measure)
        cut = _best_break(head)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _prefix_within(text: str, limit: int, measure: Callable[[str], int]) -> str:
    end = limit
    while (excess := measure(text[:end]) - limit) > 0:
        end -= (excess + 1) // 2  # each character is one or two units
    return text[:end]


def _best_break(head: str) -> int:
    """Where to end a piece: the latest natural break in the second half of `head`."""
    floor = len(head) // 2
    for separator in ("\n\n", "\n"):
        at = head.rfind(separator)
        if at >= floor:
            return at + len(separator)
    ends = [m.end() for m in _SENTENCE_END.finditer(head, floor)]
    if ends:
        return ends[-1]
    at = head.rfind(" ")
    return at + 1 if at >= floor else len(head)


def defuse_mentions(text: str) -> str:
    """Keep model output in groups from pinging people: a word joiner after @ breaks the mention."""
    return _MENTION.sub("@\u2060", text)
