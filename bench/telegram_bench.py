"""Telegram: the hot path's burst (bench/burst.py) through the real PTB client and the fake Bot API.

20 people × 10 private messages, each answered from an instant OpenAI-compatible server streaming
a 150-word reply in 200 chunks. Two loads, each for two bots, every bot in its own child process
(so its CPU time and peak RSS are its own; this process hosts the fakes and sends the updates):

- burst: every message at once, the adapter's flood limits off: throughput and latency under overload;
- 30 msg/s: messages arriving evenly at Telegram's per-bot ceiling, default flood limits on.

The bots: "Anima", the TelegramAdapter with a Telegram-only config (defaults, SQLite); "floor: PTB +
aiohttp SSE", a bare PTB Application that reads the same stream with aiohttp and sends the whole
reply once (no memory, no safety, no streamed edits), on the adapter's connection pool size.
"first send": from the update becoming available to the reply's first message; "whole reply": to
the text showing all of it. One person's first message, answered before the load, warms each bot
up and is not counted. "requests" counts Bot API calls per message besides getUpdates.

Run: make bench  (or: .venv/bin/python -m bench telegram_bench)
     with a per-stage profile of Anima's process: .venv/bin/python -m bench.telegram_bench --profile
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

from bench.burst import (
    MESSAGES,
    PEOPLE,
    REPO,
    anima_settings,
    answer_commands,
    percentile,
    prepare_database,
    print_stages,
    reply_pieces,
    stream_reply,
)
from bench.report import record

if TYPE_CHECKING:
    from tests.fakes.telegram_server import FakeBot

COMMAND = ".venv/bin/python -m bench telegram_bench"
LOADS = {"burst": None, "30 msg/s": 30.0}  # arrival rate; None: all at once
BOTS = {"anima": "Anima", "floor": "floor: PTB + aiohttp SSE"}
ENDING = "".join(reply_pieces())[-40:]  # what a whole reply shows
POOL_SIZE = 8  # anima/bots/telegram/adapter.py's


# --- the bot process -------------------------------------------------------------------------------


async def serve_bot(kind: str, token: str, base_url: str, llm_url: str, database: str, profile: str) -> None:
    if kind == "floor":
        close = await _start_floor(token, base_url, llm_url)
    else:
        close = await _start_anima(token, base_url, llm_url, database, limited=kind == "anima-limited")
    await answer_commands(profile or None)
    await close()
    print(f"stop {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)


async def _start_floor(token: str, base_url: str, llm_url: str) -> Any:
    import aiohttp
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    session = aiohttp.ClientSession()
    url = llm_url.rstrip("/") + "/chat/completions"

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message and update.message.text
        await update.message.reply_text(await stream_reply(session, url, update.message.text))

    builder = ApplicationBuilder().token(token).base_url(base_url).concurrent_updates(True)
    # The adapter's pool size (anima/bots/telegram/adapter.py, not imported: this bot loads no Anima);
    # a burst waits for a connection instead of losing its reply after PTB's default 1 s.
    app = builder.connection_pool_size(POOL_SIZE).pool_timeout(60).build()
    app.add_handler(MessageHandler(filters.TEXT, answer))
    await app.initialize()
    await app.start()
    assert app.updater
    await app.updater.start_polling()

    async def close() -> None:
        assert app.updater
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await session.close()

    return close


async def _start_anima(token: str, base_url: str, llm_url: str, database: str, limited: bool) -> Any:
    from pydantic import SecretStr

    from anima.app import Runtime
    from anima.bots.telegram import TelegramAdapter
    from anima.config import TelegramBotSettings

    runtime = await Runtime.start(anima_settings(database, llm_url))
    await runtime.settled()  # the learned guard loaded (and start-up frozen): the burst measures it
    limits = {} if limited else {"messages_per_second": 0, "group_messages_per_minute": 0}
    settings = TelegramBotSettings(token=SecretStr(token), base_url=base_url, **limits)
    bot = TelegramAdapter(runtime, settings, 0)
    await bot.start()

    async def close() -> None:
        await bot.stop()
        await runtime.close()

    return close


# --- the driver ------------------------------------------------------------------------------------


async def run_scenario(kind: str, rate: float | None, profile: str = "") -> dict[str, float]:
    from tests.fakes.openai_server import FakeOpenAI
    from tests.fakes.telegram_server import FakeTelegram, person, private_chat

    llm = FakeOpenAI(pieces=reply_pieces())
    llm_url = await llm.start()
    async with FakeTelegram() as tg:
        fake = tg.add_bot("bench_bot", "Aiko")
        with tempfile.TemporaryDirectory() as tmp:
            await prepare_database(f"{tmp}/bench.db")
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.telegram_bench", "--serve", kind, fake.token, tg.base_url,
                llm_url, f"{tmp}/bench.db", profile,
                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )  # fmt: skip

            async def ask(command: str) -> str:
                assert child.stdin and child.stdout
                child.stdin.write(f"{command}\n".encode())
                await child.stdin.drain()
                line = (await asyncio.wait_for(child.stdout.readline(), 120)).decode().strip()
                if not line.startswith(command):
                    raise RuntimeError(f"the bot process said {line!r}, expected {command!r}")
                return line.removeprefix(command).strip()

            assert child.stdout
            assert (await asyncio.wait_for(child.stdout.readline(), 120)).strip() == b"ready"
            warm_up = person(9_999, "Warm")
            fake.send_text(private_chat(warm_up), warm_up, "hello")
            await fake.wait_for(lambda: _whole(fake, warm_up["id"]) == 1, within_s=120)

            people = [person(10_000 + i, f"P{i}") for i in range(PEOPLE)]
            sent_at: dict[int, list[float]] = {p["id"]: [] for p in people}
            cpu_before = float(await ask("cpu"))
            started = time.monotonic()
            for n, (turn, p) in enumerate((t, p) for t in range(MESSAGES) for p in people):
                if rate:  # a load generator's pacing: the n-th message is due at n / rate
                    await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
                fake.send_text(private_chat(p), p, f"message {turn}: how was your day?")
                sent_at[p["id"]].append(time.monotonic())
            total = PEOPLE * MESSAGES
            try:
                await fake.wait_for(lambda: sum(_whole(fake, c) for c in sent_at) == total, within_s=240)
            except TimeoutError:
                pass  # reported: fewer whole replies than messages
            wall = time.monotonic() - started
            cpu_after = float(await ask("cpu"))
            requests = sum(1 for c in fake.calls if c.method != "getUpdates" and c.at >= started)
            peak_mb = float(await ask("stop")) / 1024
            await child.wait()
    await llm.stop()

    first, whole = [], []
    for chat, times in sent_at.items():
        for at, reply in zip(times, fake.replies(chat), strict=False):  # the k-th reply answers the k-th
            first.append((reply.versions[0][0] - at) * 1000)
            shown = [t for t, text in reply.versions if ENDING in text]
            if shown:
                whole.append((shown[0] - at) * 1000)
    return {
        "answered": sum(_whole(fake, c) for c in sent_at),
        "messages": total,
        "msgs_per_s": total / wall,
        "p50_first_ms": percentile(first, 0.50),
        "p99_first_ms": percentile(first, 0.99),
        "p50_whole_ms": percentile(whole, 0.50),
        "cpu_ms_per_msg": (cpu_after - cpu_before) * 1000 / total,
        "maxrss_mb": peak_mb,
        "requests_per_msg": requests / total,
    }


def _whole(fake: FakeBot, chat: int) -> int:
    """Replies in a chat that show the whole streamed text."""
    return sum(1 for reply in fake.replies(chat) if ENDING in reply.text)


async def run(loads: list[str], profile: bool) -> None:
    rows: dict[tuple[str, str], dict[str, float]] = {}
    profile_path = tempfile.mktemp(suffix=".prof") if profile else ""
    for load in loads:
        for bot in BOTS:
            kind = bot if bot == "floor" or LOADS[load] is None else "anima-limited"
            path = profile_path if bot == "anima" and load == loads[0] else ""
            rows[(load, bot)] = await run_scenario(kind, LOADS[load], path)
    print(f"$ {COMMAND}   # {os.cpu_count()} CPUs")
    print(
        f"{PEOPLE} people × {MESSAGES} messages; an instant OpenAI-compatible server streams each "
        "reply: 150 words in 200 chunks"
    )
    print(
        "| load | bot | answered | msgs/s | p50 first send | p99 first send | p50 whole reply "
        "| CPU/msg | peak RSS | requests/msg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (load, bot), r in rows.items():
        print(
            f"| {load} | {BOTS[bot]} | {r['answered']:.0f}/{r['messages']:.0f} | {r['msgs_per_s']:.1f} "
            f"| {r['p50_first_ms'] / 1000:.2f} s | {r['p99_first_ms'] / 1000:.2f} s "
            f"| {r['p50_whole_ms'] / 1000:.2f} s | {r['cpu_ms_per_msg']:.2f} ms | {r['maxrss_mb']:.0f} MiB "
            f"| {r['requests_per_msg']:.2f} |"
        )
    for load in loads:
        anima, floor = rows[(load, "anima")], rows[(load, "floor")]
        ratio = anima["cpu_ms_per_msg"] / floor["cpu_ms_per_msg"]
        print(f"{load}: Anima / the PTB + aiohttp SSE floor, CPU per message: {ratio:.2f}× (target ≤ 2.5×)")
        record(f"Telegram {load}: Anima CPU per message", anima["cpu_ms_per_msg"], "ms", COMMAND)
        record(f"Telegram {load}: PTB + aiohttp floor, CPU/message", floor["cpu_ms_per_msg"], "ms", COMMAND)
        record(f"Telegram {load}: Anima / floor CPU (target ≤ 2.5×)", f"{ratio:.2f}×", "", COMMAND)
        record(f"Telegram {load}: Anima p50 first send", anima["p50_first_ms"] / 1000, "s", COMMAND)
        record(f"Telegram {load}: Anima p99 first send", anima["p99_first_ms"] / 1000, "s", COMMAND)
        rss = f"Telegram {load}: Anima peak RSS, Telegram-only (target < 150 MB)"
        record(rss, anima["maxrss_mb"], "MiB", COMMAND)
    print("(CPU and RSS are each bot process's own; the fakes and the load run in the benchmark process.)")
    if profile_path:
        print()
        print_stages(profile_path, PEOPLE * MESSAGES, f"Anima on Telegram, {loads[0]}")
        os.unlink(profile_path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--load", action="append", choices=list(LOADS), help="repeatable; default: all")
    parser.add_argument("--profile", action="store_true", help="print where Anima's CPU per message goes")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args([] if argv is None else argv)
    if args.serve:
        kind, token, base_url, llm_url, database, *profile = args.serve
        asyncio.run(serve_bot(kind, token, base_url, llm_url, database, profile[0] if profile else ""))
    else:
        asyncio.run(run(args.load or list(LOADS), args.profile))


if __name__ == "__main__":
    main(sys.argv[1:])
