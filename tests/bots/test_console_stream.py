"""The terminal's reply stream: what a person sees printed."""

from __future__ import annotations

import io

from anima.bots.console import ConsoleStream
from anima.core.messages import Reply


async def printed(pieces: list[str], final: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    stream = ConsoleStream(out, err, "Aiko")
    for piece in pieces:
        await stream.delta(piece)
    await stream.finish(Reply(final, "aiko", "Aiko"))
    return out.getvalue()


async def test_a_reply_ending_in_newlines_prints_one_line() -> None:
    assert await printed(["\nHello", " there", "!\n\n"], "Hello there!") == "Aiko: Hello there!\n"


async def test_newlines_inside_a_reply_are_kept() -> None:
    assert await printed(["One.", "\n", "Two."], "One.\nTwo.") == "Aiko: One.\nTwo.\n"


async def test_text_held_back_while_streaming_is_printed_at_the_end() -> None:
    assert await printed(["Call me at"], "Call me at [redacted].") == "Aiko: Call me at [redacted].\n"


async def test_a_changed_reply_is_shown_as_trimmed() -> None:
    assert await printed(["Sure!\nLin: and"], "Sure!") == "Aiko: Sure!\nLin: and\n(Aiko, trimmed): Sure!\n"
