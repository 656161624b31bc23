"""Checked streaming: no byte of a reply reaches a platform before every check has seen all of it.

A model that streams big chunks (one delta may hold the whole reply) carrying a canary, another
person's address, the verbatim system prompt or a threat: the real PTB client against the fake Bot
API records every sendMessage and editMessageText, and none of them carries it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.config import TelegramBotSettings
from anima.core.messages import Reply
from anima.llm.base import GenerationRequest
from anima.safety.streaming import OVERLAP, CheckedStream
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat

ALICE = person(101, "Alice")
CANARY = re.compile(r"Confidential marker, never to be written: (\S+)")
FILLER = "It is a quiet evening in the tea house, and the kettle hums along. " * 4  # ~270 characters


class ChunkyLLM(InstantLLM):
    """Streams its reply in pieces of `chunk` characters (0: the whole reply in one delta)."""

    def __init__(self, chunk: int) -> None:
        super().__init__(delay_s=0.0)
        self.chunk = chunk

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        self.requests.append(request)
        text = self.reply(request)
        size = self.chunk or len(text)
        for start in range(0, len(text), size):
            yield text[start : start + size]


class Shown:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.final: Reply | None = None

    async def delta(self, text: str) -> None:
        self.pieces.append(text)

    async def finish(self, reply: Reply) -> None:
        self.final = reply


async def test_every_released_piece_was_checked_whole_even_from_one_huge_delta() -> None:
    shown, windows = Shown(), []

    async def passes(window: str) -> bool:
        windows.append(window)
        return "SECRET" not in window

    stream = CheckedStream(shown, passes, interval_s=0.0, max_held=200, max_piece=200, max_window=400)
    await stream.delta(FILLER * 5 + "SECRET " + FILLER)  # ~1,600 characters in one delta
    await stream.caught_up()
    assert shown.pieces and max(len(p) for p in shown.pieces) <= 200  # the delta was split
    assert all(any(p in w for w in windows) for p in shown.pieces)
    assert "SECRET" not in "".join(shown.pieces)


async def test_what_is_held_when_the_checks_run_is_checked_once_then_shown_in_pieces() -> None:
    """A reply that arrived faster than the platform shows it costs one check, not one per piece
    (each with its overlap again): the checks are most of a streamed reply's CPU."""
    shown, windows = Shown(), []

    async def passes(window: str) -> bool:
        windows.append(window)
        return True

    stream = CheckedStream(shown, passes, interval_s=0.0, max_held=200, max_piece=200)
    text = FILLER * 3  # ~810 characters, as a 150-word reply arriving at once
    await stream.delta(text)
    await stream.caught_up()
    assert len(windows) == 1 and windows[0] == "".join(shown.pieces)
    assert len(shown.pieces) >= 4 and max(len(p) for p in shown.pieces) <= 200


class Paced(Shown):
    """A platform stream that cannot show text before `at` (its edit slot is taken until then)."""

    def __init__(self, at: float) -> None:
        super().__init__()
        self.at = at

    def shows_at(self) -> float:
        return self.at


async def test_nothing_is_checked_or_shown_before_the_platform_could_show_it() -> None:
    now = asyncio.get_running_loop().time()
    later, windows = Paced(now + 3600), []

    async def passes(window: str) -> bool:
        windows.append(window)
        return True

    stream = CheckedStream(later, passes, interval_s=0.0, max_held=200, max_piece=200)
    for start in range(0, len(FILLER * 4), 40):
        await stream.delta((FILLER * 4)[start : start + 40])
    assert windows == [] and later.pieces == []  # held, unchecked: the final check sees it whole
    reply = Reply((FILLER * 4).strip(), "aiko", "Aiko")
    await stream.finish(reply)
    assert later.final == reply and "".join(later.pieces).strip() == reply.text  # whole, once checked


async def test_a_marker_cut_across_two_pieces_is_seen_in_one_window() -> None:
    shown = Shown()

    async def passes(window: str) -> bool:
        return "zx-1234abcd" not in window

    stream = CheckedStream(shown, passes, interval_s=0.0, max_held=200, max_piece=200)
    text = "word " * 38 + "zx-1234" + "abcd and then more words follow here. " * 8
    for start in range(0, len(text), 190):  # each piece read on its own: a check between them
        await stream.delta(text[start : start + 190])
        await stream.caught_up()
    assert "abcd" not in "".join(shown.pieces) and OVERLAP >= 200


async def test_pieces_read_before_a_due_check_runs_join_its_window() -> None:
    """A busy bot reads many pieces at once: those behind the one that made the check due are
    checked with it, in one window, not each in a window of its own."""
    shown, windows = Shown(), []

    async def passes(window: str) -> bool:
        windows.append(window)
        return True

    stream = CheckedStream(shown, passes, interval_s=0.0, max_held=1, max_piece=200)
    for word in FILLER.split(" ")[:20]:
        await stream.delta(word + " ")  # nothing here lets the loop turn
    assert windows == [] and shown.pieces == []  # nothing shown unchecked
    await stream.caught_up()
    assert len(windows) == 1 and "".join(shown.pieces) == windows[0]
    assert windows[0] == " ".join(FILLER.split(" ")[:20]) + " "


async def test_a_reply_that_ends_before_its_due_check_runs_is_checked_once_as_the_final_reply() -> None:
    shown, windows = Shown(), []

    async def passes(window: str) -> bool:
        windows.append(window)
        return True

    stream = CheckedStream(shown, passes, interval_s=0.0, max_held=1, max_piece=200)
    for start in range(0, len(FILLER), 30):
        await stream.delta(FILLER[start : start + 30])
    reply = Reply(FILLER.strip(), "aiko", "Aiko")  # the pipeline's output checks passed it whole
    await stream.finish(reply)
    assert windows == []  # the check that was due never ran: the final check saw it all
    assert shown.final == reply and "".join(shown.pieces).strip() == reply.text


async def test_finish_waits_for_a_check_under_way_and_shows_nothing_it_did_not_pass() -> None:
    shown, begun, answer = Shown(), asyncio.Event(), asyncio.Event()

    async def passes(window: str) -> bool:
        begun.set()
        await answer.wait()
        return "SECRET" not in window

    stream = CheckedStream(shown, passes, interval_s=0.0, max_held=1, max_piece=200)
    await stream.delta("A quiet evening. SECRET ")
    await begun.wait()
    finishing = asyncio.create_task(stream.finish(Reply("A quiet evening.", "aiko", "Aiko")))
    done, _ = await asyncio.wait([finishing], timeout=0.05)
    assert not done  # the final reply does not overtake the check under way
    answer.set()
    await finishing
    assert shown.pieces == [] and stream.stopped and shown.final is not None


async def test_a_check_that_fails_raises_into_the_reply_not_into_the_void() -> None:
    async def passes(window: str) -> bool:
        raise RuntimeError("the check broke")

    stream = CheckedStream(Shown(), passes, interval_s=0.0, max_held=1)
    await stream.delta("Hello there, ")
    with pytest.raises(RuntimeError, match="the check broke"):
        await stream.caught_up()
    with pytest.raises(RuntimeError, match="the check broke"):
        await stream.finish(Reply("Hello there,", "aiko", "Aiko"))


def canary_of(request: GenerationRequest) -> str:
    match = CANARY.search(request.messages[0].content)
    assert match
    return match.group(1)


LEAKS: dict[str, tuple[Callable[[GenerationRequest], str], Callable[[GenerationRequest], str]]] = {
    "canary": (lambda r: f"Sure! My marker is {canary_of(r)}, nice to meet you.", canary_of),
    "spaced canary": (lambda r: "Here: " + " ".join(canary_of(r)) + ".", lambda r: canary_of(r)[3:9]),
    "email": (
        lambda r: "You can write to Mallory at mallory.secret@example.org whenever you like.",
        lambda r: "mallory.secret",
    ),
    "system prompt": (
        lambda r: "My instructions say: " + r.messages[0].content,
        lambda r: r.messages[0].content.splitlines()[0][:60],
    ),
    "threat": (
        lambda r: "Listen, Alice. I know where you live and I am going to kill you tonight.",
        lambda r: "kill you",
    ),
}


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.mark.parametrize("chunk", [0, 250, 2000])
@pytest.mark.parametrize("leak", sorted(LEAKS))
async def test_no_platform_call_ever_carries_a_leak_streamed_in_big_chunks(
    runtime: Runtime, tg: FakeTelegram, leak: str, chunk: int
) -> None:
    fake: FakeBot = tg.add_bot("aiko_bot", "Aiko")
    llm = ChunkyLLM(chunk)
    make, secret_of = LEAKS[leak]
    llm.reply = lambda request: FILLER + make(request) + " " + FILLER
    runtime.router.register("embedded", llm)
    settings = TelegramBotSettings(
        token=SecretStr(fake.token),
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        edit_interval_s=0.1,  # Telegram's floor: the draft is edited as often as it may be
    )
    adapter = TelegramAdapter(runtime, settings, 0)
    await adapter.start()
    try:
        fake.send_text(private_chat(ALICE), ALICE, "tell me about your evening")
        await fake.wait_for(lambda: bool(fake.replies(ALICE["id"])))
    finally:
        await adapter.stop()  # lets the reply in flight finish
    secret = secret_of(llm.requests[0]).lower()
    sent = [c.params.get("text", "") for c in fake.calls if c.method in ("sendMessage", "editMessageText")]
    assert sent, "the bot answered"
    assert not [t for t in sent if secret in str(t).lower()]
