"""Split a reply into Discord-sized messages without breaking words or code blocks."""

from __future__ import annotations

MESSAGE_LIMIT = 2000
FENCE = "```"
CLOSE = "\n" + FENCE


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
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
        if len(head + rest) + (len(CLOSE) if _open_fence(head + rest) else 0) <= limit:
            piece = head + rest
            opener = _open_fence(piece)
            pieces.append(piece + CLOSE if opener else piece)
            break
        # Leave room for the closing fence a cut inside a block needs.
        cut, skip = _cut_point(rest, room - len(CLOSE))
        piece = head + rest[:cut].rstrip()
        rest = rest[cut + skip :]
        opener = _open_fence(piece)
        if opener:
            piece += CLOSE
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
