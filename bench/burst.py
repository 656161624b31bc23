"""The hot path's burst, shared by the Discord and Telegram benches (issue 20's measurement).

20 people send 10 messages each, all at once; every reply comes from an instant OpenAI-compatible
server (tests/fakes/openai_server.py, run by the driver so its CPU is not the bot's) streaming a
150-word reply in 200 chunks. The bare-library floor reads the same stream with aiohttp (the `data:`
lines and json.loads per line) and sends the whole reply once. `--profile` runs the bot under
cProfile, timed by the main thread's CPU, and prints what each stage of a message costs.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

    from anima.config import Settings

REPO = Path(__file__).resolve().parent.parent
PEOPLE, MESSAGES = 20, 10
_TEXT = (
    "Oh, that sounds like such a long day, and I am really glad you told me about it. "
    "I spent most of mine at the little desk by the window, sketching a sleepy cat for a picture "
    "book while my tea went cold twice. The light was soft this afternoon, so I tried a new wash "
    "of blue for the sky, and it came out better than I hoped. Later I walked to the bakery on "
    "the corner and the baker saved me the last cinnamon roll, which felt like a small victory. "
    "Tell me more about your evening, though. Did you manage to rest a bit after everything, or "
    "are you still running around? If you want, we could plan something calm for the weekend, "
    "like a slow walk by the river and a warm drink afterwards. I would love to hear what you are "
    "looking forward to, even the small things, because they matter too."
)
WORDS = _TEXT.split()[:150]
CHUNKS = 200


def reply_pieces() -> list[str]:
    """The 150-word reply as the server streams it: 200 chunks (50 words split in two, as tokens are)."""
    pieces: list[str] = []
    splits = CHUNKS - len(WORDS)
    for i, word in enumerate(WORDS):
        lead = " " if i else ""
        if splits and len(word) >= 4:
            pieces += [lead + word[: len(word) // 2], word[len(word) // 2 :]]
            splits -= 1
        else:
            pieces.append(lead + word)
    assert len(pieces) == CHUNKS and "".join(pieces) == " ".join(WORDS), "the reply's chunks do not add up"
    return pieces


def anima_settings(database: str, llm_url: str) -> Settings:
    """What a one-platform deployment on an OpenAI-compatible server runs: defaults, the fake server;
    `database`: a SQLite file's path, or a database URL (PostgreSQL)."""
    from pydantic import SecretStr

    from anima.config import ConversationSettings, LLMSettings, MemorySettings, OpenAIBackend, Settings

    # Each message answered on its own, as the peers answer them (a burst would otherwise be read as one).
    EVERY_MESSAGE = ConversationSettings(coalesce_ms=0)
    backend = OpenAIBackend(kind="openai", base_url=llm_url, api_key=SecretStr("bench"), model="fake")
    return Settings(
        characters_dir=REPO / "characters",
        reload_characters=False,
        memory=MemorySettings(
            database_url=database if "://" in database else f"sqlite+aiosqlite:///{database}"
        ),
        llm=LLMSettings(default="fake", backends={"fake": backend}),
        conversation=EVERY_MESSAGE,
    )


async def prepare_database(path: str) -> None:  # a SQLite file's path, or a database URL
    """Make the bot's database (schema at its newest) before the bot starts, as a deployed bot finds
    it after its first start: the one-off migration is not part of serving messages."""
    from anima.memory.store import MemoryStore

    store = await MemoryStore.open(path if "://" in path else f"sqlite+aiosqlite:///{path}")
    await store.close()


async def stream_reply(session: aiohttp.ClientSession, url: str, text: str) -> str:
    """The floor's LLM call: POST the message, read the SSE stream's `data:` lines, join the pieces."""
    body = {"model": "fake", "messages": [{"role": "user", "content": text}], "stream": True}
    pieces: list[str] = []
    async with session.post(url, json=body) as response:
        async for raw in response.content:
            if raw.startswith(b"data:") and (payload := raw[5:].strip()) != b"[DONE]":
                for choice in json.loads(payload).get("choices") or ():
                    pieces.append((choice.get("delta") or {}).get("content") or "")
    return "".join(pieces)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- where a message's CPU goes --------------------------------------------------------------------

# (label, file suffix, function): cumulative main-thread CPU, each row including the rows under it.
STAGES: list[tuple[str, str, str]] = [
    ("the conversation service (one message, end to end)", "core/conversations.py", "handle"),
    ("  persona preference", "core/preferences.py", "persona"),
    ("  voice preference", "core/preferences.py", "voice"),
    ("  inbox: claim", "memory/inbox.py", "claim"),
    ("  inbox: answered", "memory/inbox.py", "answered"),
    ("  pipeline turn", "core/pipeline.py", "reply"),
    ("    conversation state (history)", "memory/store.py", "conversation"),
    ("    safety, input", "safety/policy.py", "begin"),
    ("    store a message", "memory/store.py", "add"),
    ("    recall", "core/pipeline.py", "recall"),
    ("    prompt build + token count", "core/prompt.py", "build"),
    ("    LLM stream read (aiohttp SSE)", "llm/openai_backend.py", "stream"),
    ("    router (slots, retries, deadlines)", "llm/router.py", "generate"),
    ("    per chunk: safety stream", "safety/streaming.py", "delta"),
    ("    per chunk: the platform's stream", "core/streaming.py", "delta"),
    ("    safety, output", "safety/policy.py", "check_output"),
    ("    final send", "core/streaming.py", "finish"),
    ("  streamed edits (own tasks)", "core/streaming.py", "_show_partial"),
    ("  typing indicator (own tasks)", "core/streaming.py", "keep_showing"),
    ("after the turn: memory keeper", "memory/keeper.py", "_work"),
    ("SQLite writer thread hops (submit)", "concurrent/futures/thread.py", "submit"),
]


async def answer_commands(profile_path: str | None = None) -> None:
    """The bot process's side of the driver's protocol: print `ready`, then answer `cpu` with the
    CPU seconds used so far until `stop`. With `profile_path`, the first `cpu` starts cProfile and the
    second writes its stats there (so the profile covers the measured load only)."""
    import asyncio
    import sys

    print("ready", flush=True)
    profile: cProfile.Profile | None = None
    while (command := (await asyncio.to_thread(sys.stdin.readline)).strip()) != "stop":
        if command == "cpu":
            print(f"cpu {time.process_time()}", flush=True)
            if profile_path and profile is None:
                profile = cProfile.Profile(time.thread_time)
                profile.enable()
            elif profile is not None and profile_path:
                profile.disable()
                profile.dump_stats(profile_path)
                profile_path = None
        elif not command:  # the driver went away
            return


def stage_rows(path: str, messages: int) -> list[tuple[str, float]]:
    """Main-thread CPU per message of each stage in STAGES (ms), from a profile `profiled` wrote."""
    stats: Any = pstats.Stats(path)
    total = sum(row[2] for row in stats.stats.values())  # every function's own time: the whole thread
    rows = [("the bot's main thread, all of it (profiled)", total * 1000 / messages)]
    for label, suffix, name in STAGES:
        cumulative = sum(
            row[3]
            for (file, _line, function), row in stats.stats.items()
            if function == name and file.endswith(suffix)
        )
        rows.append((label, cumulative * 1000 / messages))
    return rows


def print_stages(path: str, messages: int, title: str) -> None:
    print(f"| {title}: main-thread CPU per message (cProfile; each row includes those under it) | ms |")
    print("|---|---|")
    for label, ms in stage_rows(path, messages):
        print(f"| {label.replace('  ', '&nbsp;&nbsp;')} | {ms:.2f} |")
    print("(cProfile adds its own overhead to every call: compare the rows with each other, not with")
    print(" the unprofiled CPU per message above.)")
