"""The terminal shows that the character is typing until its first words, and edits lines."""

from __future__ import annotations

import io
import sys

from anima.app import Runtime
from anima.bots.console import ConsoleChat, ConsoleStream, TypingIndicator, _line_editing
from anima.core.messages import Reply
from tests.fakes.llm import InstantLLM

TYPING = "\x1b[2mAiko is typing…\x1b[0m"
ERASE = "\r\x1b[K"


async def test_typing_shows_while_the_reply_is_made_and_the_first_words_replace_it(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    out = io.StringIO()
    chat = ConsoleChat(runtime, "aiko", "Lin", out=out, err=io.StringIO())
    chat.typing.enabled = True
    printed_while_generating = []

    def reply(_request: object) -> str:
        printed_while_generating.append(out.getvalue())
        return "Hello Lin!"

    instant_llm.reply = reply  # type: ignore[assignment]
    await chat.say("hi")
    assert printed_while_generating == [TYPING]
    assert out.getvalue() == TYPING + ERASE + "Aiko: Hello Lin!\n"
    assert not chat.typing.visible


async def test_a_reply_that_never_streamed_still_removes_the_indicator() -> None:
    out = io.StringIO()
    typing = TypingIndicator(out, enabled=True)
    typing.show("Aiko")
    await ConsoleStream(out, io.StringIO(), "Aiko", typing).finish(
        Reply("Sorry, I lost my words.", "aiko", "Aiko")
    )
    assert out.getvalue() == TYPING + ERASE + "Aiko: Sorry, I lost my words.\n"


async def test_piped_output_gets_no_indicator(runtime: Runtime) -> None:
    out = io.StringIO()
    chat = ConsoleChat(runtime, "aiko", "Lin", out=out, err=io.StringIO())
    await chat.say("hi")
    assert out.getvalue() == "Aiko: You said: hi\n"


def test_an_interactive_terminal_gets_line_editing_and_history() -> None:
    _line_editing()
    assert "readline" in sys.modules
