"""Telegram: N people × M messages through the real PTB client and the fake Bot API.

The bot runs in its own process (so its CPU time and peak RSS are its own); this process hosts
the fake server, sends the updates and times each from "update available" to "final reply text
shown". Two loads, each for two bots:

- burst: every message at once, flood limits off: throughput and latency under overload;
- 30 msg/s: messages arriving evenly at Telegram's per-bot ceiling, default flood limits on:
  what serving a full-speed bot costs.

The bots: "ptb floor", a bare PTB Application answering each text with a fixed-form reply (no
Anima) on the adapter's connection pool size; "anima", the TelegramAdapter with the pipeline,
SQLite memory and an instant LLM. Anima's own cost is the anima row's CPU less the floor's.
"requests" counts Bot API calls per message besides getUpdates: under overload a reply is slow
enough for "typing…" and a first streamed piece, which the floor never sends.

Run: make bench  (or: .venv/bin/python -m bench telegram_bench)
     fewer rows: .venv/bin/python -m bench.telegram_bench --users 50 --messages 5 --load burst
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import record
from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench telegram_bench"
LOADS = {"burst": None, "30 msg/s": 30.0}  # arrival rate; None: all at once
BOTS = {"ptb floor": "floor", "anima": "anima"}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the bot process -------------------------------------------------------------------------------


async def serve_bot(scenario: str, token: str, base_url: str) -> None:
    """Serve until stdin closes; then print the CPU seconds used while serving and the peak RSS."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(1 << 16) else None)
    if scenario == "floor":
        close = await _start_floor(token, base_url)
    else:
        close = await _start_anima(token, base_url, limited=scenario == "anima-limited")
    print("ready", flush=True)
    cpu = time.process_time()
    await stop.wait()
    cpu = time.process_time() - cpu
    await close()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cpu_s": cpu, "maxrss_mb": maxrss_mb}), flush=True)


async def _start_floor(token: str, base_url: str):  # type: ignore[no-untyped-def]
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message and update.message.text
        await update.message.reply_text(f"You said: {update.message.text}")

    from anima.bots.telegram.adapter import POOL_SIZE

    builder = ApplicationBuilder().token(token).base_url(base_url).concurrent_updates(True)
    app = builder.connection_pool_size(POOL_SIZE).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    assert app.updater
    await app.updater.start_polling()

    async def close() -> None:
        assert app.updater
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    return close


async def _start_anima(token: str, base_url: str, limited: bool):  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    from anima.app import Runtime
    from anima.bots.telegram import TelegramAdapter
    from anima.config import MemorySettings, Settings, TelegramBotSettings
    from tests.fakes.llm import InstantLLM

    tmp = tempfile.TemporaryDirectory()
    settings = Settings(
        characters_dir=REPO / "characters",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp.name}/bench.db"),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", InstantLLM())
    limits = {} if limited else {"messages_per_second": 0, "group_messages_per_minute": 0}
    bot = TelegramAdapter(
        runtime, TelegramBotSettings(token=SecretStr(token), base_url=base_url, **limits), 0
    )
    await bot.start()

    async def close() -> None:
        await bot.stop()
        await runtime.close()
        tmp.cleanup()

    return close


# --- the driver ------------------------------------------------------------------------------------


async def run_scenario(scenario: str, users: int, messages: int, rate: float | None) -> dict[str, float]:
    async with FakeTelegram() as tg:
        fake = tg.add_bot("bench_bot", "Aiko")
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.telegram_bench",
            "--serve",
            scenario,
            "--token",
            fake.token,
            "--base-url",
            tg.base_url,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert child.stdin and child.stdout
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
        await fake.wait_for(lambda: bool(fake.calls_to("getUpdates")), within_s=30)

        people = [person(10_000 + i, f"P{i}") for i in range(users)]
        sent_at: dict[tuple[int, str], float] = {}
        started = time.monotonic()
        for n, (turn, p) in enumerate((t, p) for t in range(messages) for p in people):
            if rate:  # a load generator's pacing: the n-th message is due at n / rate
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            text = f"message {turn} from {p['id']}"
            fake.send_text(private_chat(p), p, text)
            sent_at[(p["id"], f"You said: {text}")] = time.monotonic()
        shown = _shown_at(fake, sent_at)
        await fake.wait_for(lambda: len(shown()) == len(sent_at), within_s=600)
        wall = time.monotonic() - started
        latencies = [(at - sent_at[key]) * 1000 for key, at in shown().items()]
        requests = sum(1 for c in fake.calls if c.method != "getUpdates")

        child.stdin.close()
        result = json.loads((await asyncio.wait_for(child.stdout.readline(), 60)).decode())
        await child.wait()
    total = users * messages
    return {
        "msgs_per_s": total / wall,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "cpu_ms_per_msg": result["cpu_s"] * 1000 / total,
        "core_share": result["cpu_s"] / wall,
        "maxrss_mb": result["maxrss_mb"],
        "requests_per_msg": requests / total,
    }


def _shown_at(fake: FakeBot, expected: dict[tuple[int, str], float]):  # type: ignore[no-untyped-def]
    """A function returning {(chat, reply text): when the text first showed}, updated incrementally."""
    found: dict[tuple[int, str], float] = {}
    scanned: dict[tuple[int, int], int] = {}

    def shown() -> dict[tuple[int, str], float]:
        for key, message in fake.messages.items():
            start = scanned.get(key, 0)
            for at, text in message.versions[start:]:
                if (message.chat_id, text) in expected:
                    found.setdefault((message.chat_id, text), at)
            scanned[key] = len(message.versions)
        return found

    return shown


async def run(users: int, messages: int, loads: list[str]) -> None:
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for load in loads:
        for bot, kind in BOTS.items():
            scenario = kind if kind == "floor" or LOADS[load] is None else "anima-limited"
            rows[(load, bot)] = await run_scenario(scenario, users, messages, LOADS[load])
    print(f"$ {COMMAND}  ({users} people × {messages} messages, instant LLM, fake Bot API)")
    print("| load | bot | msgs/s | p50 update→reply | p99 | CPU/msg | core share | peak RSS | requests/msg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (load, bot), r in rows.items():
        print(
            f"| {load} | {bot} | {r['msgs_per_s']:.0f} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms "
            f"| {r['cpu_ms_per_msg']:.2f} ms | {r['core_share'] * 100:.0f}% | {r['maxrss_mb']:.0f} MB "
            f"| {r['requests_per_msg']:.2f} |"
        )
        if bot == "anima":
            record(f"Telegram {load}: messages/s", r["msgs_per_s"], "", COMMAND)
            record(f"Telegram {load}: p99 update → reply", r["p99_ms"], "ms", COMMAND)
    print()
    for load in loads:
        own = rows[(load, "anima")]["cpu_ms_per_msg"] - rows[(load, "ptb floor")]["cpu_ms_per_msg"]
        print(
            f"{load}: Anima's own CPU per message (anima − ptb floor) {own:.2f} ms (target < 2 ms), "
            f"{own * 3:.0f}% of one core at 30 msg/s; the whole bot "
            f"{rows[(load, 'anima')]['cpu_ms_per_msg'] * 3:.0f}%."
        )
        record(f"Telegram {load}: Anima's own CPU per message (target < 2 ms)", own, "ms", COMMAND)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--load", action="append", choices=list(LOADS), help="repeatable; default: all")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args([] if argv is None else argv)
    if args.serve:
        asyncio.run(serve_bot(args.serve, args.token, args.base_url))
    else:
        asyncio.run(run(args.users, args.messages, args.load or list(LOADS)))


if __name__ == "__main__":
    main(sys.argv[1:])
