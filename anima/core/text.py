"""Text as chats take it: cut into messages at natural breaks (keeping Markdown code blocks whole
where the chat renders them), and mentions defused for groups."""

from __future__ import annotations

import re
from collections.abc import Callable

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)|[。！？]")
_MENTION = re.compile(r"(?<!\w)@(?=[A-Za-z0-9_]{4,})")
FENCE = "```"
_CLOSE = "\n" + FENCE


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


def split_markdown(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line or space when one is near.

    A cut inside a ``` block closes the block at the end of the piece and reopens it, with its
    language, at the start of the next, so every piece renders as the whole would have. A block
    still open at the end of the text is closed (a stream that stopped mid-block renders cleanly).
    """
    if limit <= len(FENCE) * 4:
        raise ValueError(f"limit {limit} is too small to split code blocks")
    pieces: list[str] = []
    opener: str | None = None  # the fence line (e.g. "```py") to reopen at the next piece
    rest = text.strip()
    while rest:
        head = opener + "\n" if opener else ""
        room = limit - len(head)
        if len(head + rest) + (len(_CLOSE) if _open_fence(head + rest) else 0) <= limit:
            piece = head + rest
            opener = _open_fence(piece)
            pieces.append(piece + _CLOSE if opener else piece)
            break
        # Leave room for the closing fence a cut inside a block needs.
        cut, skip = _cut_point(rest, room - len(_CLOSE))
        piece = head + rest[:cut].rstrip()
        rest = rest[cut + skip :]
        opener = _open_fence(piece)
        if opener:
            piece += _CLOSE
            rest = rest.lstrip("\n")
        else:
            rest = rest.lstrip()
        pieces.append(piece)
    return pieces


def _cut_point(text: str, room: int) -> tuple[int, int]:
    """Where to cut `text` so the first part fits in `room`; returns (index, separator length)."""
    window = text[: room + 1]
    for separator, least in (("\n\n", room // 2), ("\n", room // 2), (" ", 1)):
        index = window.rfind(separator, 0, room)
        if index >= least:
            return index, len(separator)
    return room, 0  # one word longer than a message: nothing to do but cut it


def _open_fence(text: str) -> str | None:
    """The opening fence line of a code block still open at the end of `text`, or None."""
    opener: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(FENCE) and stripped.count(FENCE) == 1:  # "```a```" opens and closes
            opener = None if opener else stripped.split()[0]
    return opener


def defuse_mentions(text: str) -> str:
    """Keep model output in groups from pinging people: a word joiner after @ breaks the mention."""
    return _MENTION.sub("@\u2060", text)
