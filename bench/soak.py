"""Soak: `anima run` serving simulated people on the fake Telegram and Discord for minutes, faults injected.

The bot is the real `anima run` in a child process (so its RSS is its own), configured with one
Telegram bot, one Discord bot, an OpenAI-compatible backend on the fake OpenAI server and the ops
endpoint. This process hosts the three fakes and the people: each sends a message, waits for the
reply (60 s at most), thinks for a while and sends the next. At random moments a fault is injected:
the LLM answers 500, 429 or 503 several times over (past the backend's retries: an apology), or
breaks a stream off; Telegram answers 429 or 5xx; Discord answers 429 or 500, or drops the gateway.

Every `--sample-s` it prints messages sent and answered, replies that were apologies or cut,
p99 latency of the window, the child's RSS and the queue depth from /metrics. At the end: totals,
p50/p99 message → first reply, and RSS growth after warm-up (the target: under 5%).

Run: make soak  (= .venv/bin/python -m bench.soak --minutes 10 --users 200 --write)
     shorter: .venv/bin/python -m bench.soak --minutes 2 --users 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from anima.config import MemorySettings
from anima.core.messages import ConversationKey
from anima.memory.scale import Talk, fill_conversation
from anima.memory.store import MemoryStore
from bench import report
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat

REPO = Path(__file__).resolve().parent.parent
REPLY = "Of course I remember! We talked about the tea shop by the river, and you promised to visit soon."
REPLY_TIMEOUT_S = 60.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    unanswered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    window_ms: list[float] = field(default_factory=list)  # since the last sample
    faults: Counter[str] = field(default_factory=Counter)


class Replies:
    """Watches the fakes' request logs (append-only) and resolves each person's wait for a reply."""

    def __init__(self, telegram: FakeBot, discord: FakeDiscord) -> None:
        self.telegram, self.discord = telegram, discord
        self._seen_tg = self._seen_dc = 0
        self.waiting: dict[str, asyncio.Future[float]] = {}  # chat or message id → first reply time
        self.early: dict[str, float] = {}  # replies seen before anyone waited for them

    def expect(self, key: str, sent_at: float) -> asyncio.Future[float]:
        future = asyncio.get_running_loop().create_future()
        early = self.early.pop(key, None)
        if early is not None and early >= sent_at:  # an earlier reply's second message is not this answer
            future.set_result(early)
        else:
            self.waiting[key] = future
        return future

    async def watch(self) -> None:
        while True:
            calls = self.telegram.calls
            for call in calls[self._seen_tg : len(calls)]:
                if call.method in ("sendMessage", "sendVoice") and call.status == 200:
                    self._resolve(f"tg:{call.params.get('chat_id')}", call.at)
            self._seen_tg = len(calls)
            calls = self.discord.calls
            for call in calls[self._seen_dc : len(calls)]:
                body = call.body if isinstance(call.body, dict) else {}
                if call.method == "POST" and call.status == 200 and body.get("message_reference"):
                    self._resolve(f"dc:{body['message_reference']['message_id']}", call.at)
            self._seen_dc = len(calls)
            await asyncio.sleep(0.02)

    def _resolve(self, key: str, at: float) -> None:
        future = self.waiting.pop(key, None)
        if future is None:
            self.early[key] = at
        elif not future.done():
            future.set_result(at)


async def person_loop(
    send: Any, replies: Replies, tally: Tally, until: float, think_s: float, rng: random.Random
) -> None:
    """One simulated person: say something, wait for the answer, think, repeat until `until`."""
    await asyncio.sleep(rng.uniform(0, think_s))  # people arrive spread out, not all at once
    turn = 0
    while time.monotonic() < until:
        turn += 1
        key, sent_at = await send(f"message {turn}: how was your day? " + rng.choice(TOPICS))
        future = replies.expect(key, sent_at)
        tally.sent += 1
        try:
            answered_at = await asyncio.wait_for(future, REPLY_TIMEOUT_S)
        except TimeoutError:
            tally.unanswered += 1
            replies.waiting.pop(key, None)
            replies.early.pop(key, None)
        else:
            tally.answered += 1
            latency = (answered_at - sent_at) * 1000
            tally.latencies_ms.append(latency)
            tally.window_ms.append(latency)
        await asyncio.sleep(rng.uniform(think_s / 2, think_s * 1.5))


TOPICS = ["Tea?", "I saw a cat today.", "Do you like rain?", "Tell me about your drawings.", "Good night!"]


async def inject_faults(
    llm: FakeOpenAI, telegram: FakeBot, discord: FakeDiscord, tally: Tally, until: float, every_s: float
) -> None:
    rng = random.Random(3)
    while time.monotonic() < until:
        await asyncio.sleep(rng.expovariate(1 / every_s))
        kind = rng.choice(FAULTS)
        tally.faults[kind] += 1
        if kind == "llm 500 (retried)":
            llm.fail_next(500)
        elif kind == "llm 429 retry-after 1 s":
            llm.fail_next(429, retry_after=1)
        elif kind == "llm 503 x4 (past retries: apology)":
            llm.fail_next(503, times=4)
        elif kind == "llm stream broken off":
            llm.break_after = 3
            await asyncio.sleep(0.3)
            llm.break_after = None
        elif kind == "telegram sendMessage 429":
            telegram.fail_next("sendMessage", 429, retry_after=1)
        elif kind == "telegram getUpdates 502":
            telegram.fail_next("getUpdates", 502)
        elif kind == "discord send 429":
            discord.fail_next("POST", r"/channels/\d+/messages", status=429, retry_after=0.5)
        elif kind == "discord send 500":
            discord.fail_next("POST", r"/channels/\d+/messages", status=500)
        elif kind == "discord gateway dropped":
            await discord.drop_gateway()


FAULTS = [
    "llm 500 (retried)",
    "llm 429 retry-after 1 s",
    "llm 503 x4 (past retries: apology)",
    "llm stream broken off",
    "telegram sendMessage 429",
    "telegram getUpdates 502",
    "discord send 429",
    "discord send 500",
    "discord gateway dropped",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_by_mapping(pid: int) -> Counter[str]:
    """The child's resident kB by what is mapped: `[heap]` (glibc's main arena), `[anon]` (mmapped
    memory: CPython's arenas, big allocations, thread stacks), `[stack]`, or a file's name."""
    found: Counter[str] = Counter()
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header: range perms offset dev inode [path]
            name = fields[5].rsplit("/", 1)[-1] if len(fields) > 5 else "[anon]"
        elif fields[0] == "Rss:":
            found[name] += int(fields[1])
    return found


async def scrape(session: aiohttp.ClientSession, port: int) -> dict[str, float]:
    """Sums of the child's anima_* samples by name (labels folded), from its /metrics."""
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    sums: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("anima_"):
            metric, _, value = line.rpartition(" ")
            sums[metric.split("{")[0]] += float(value)
            if metric.startswith("anima_errors_total{"):  # and each kind: anima_errors_total{kind="recall"}
                sums[metric] += float(value)
    return dict(sums)


def write_config(
    folder: Path,
    tg: FakeTelegram,
    tg_bot: FakeBot,
    dc: FakeDiscord,
    llm: FakeOpenAI,
    port: int,
    history_messages: int | None = None,
) -> Path:
    memory: dict[str, Any] = {"database_url": database_url(folder)}
    if history_messages is not None:  # a smaller history cache fills (ends its warm-up) sooner
        memory["history_messages"] = history_messages
    config = {
        "characters_dir": str(REPO / "characters"),
        "reload_characters": False,
        "default_character": "aiko",
        "memory": memory,
        "llm": {
            "default": "fake",
            "backends": {
                "fake": {"kind": "openai", "base_url": llm.base_url, "api_key": "sk-soak", "max_retries": 2}
            },
        },
        "bots": {
            "telegram": [{"token": tg_bot.token, "base_url": tg.base_url, "base_file_url": tg.base_file_url}],
            "discord": [{"token": dc.token, "api_base": dc.api_base}],
        },
        "ops": {"metrics_port": port, "log_format": "json"},
        "conversation": {"coalesce_ms": 0},  # every simulated message gets its own reply, counted as such
        "log_level": "WARNING",
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return path


def database_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder}/soak.db"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(
    session: aiohttp.ClientSession, port: int, child: asyncio.subprocess.Process, within_s: float = 120
) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if child.returncode is not None:
            raise RuntimeError(f"anima run exited with {child.returncode} before it was ready")
        try:
            async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"anima run was not ready within {within_s:.0f} s")


async def soak(
    minutes: float,
    users: int,
    think_s: float,
    fault_every_s: float,
    sample_s: float,
    history_messages: int | None = None,
    traced: str = "",
) -> dict[str, Any]:
    """`traced`: "census" (what the bot holds, counted at the end of the warm-up and at the end) or
    "tracemalloc" (that, and tracemalloc's diff of Python's allocations between the two)."""
    llm = FakeOpenAI(reply=REPLY)
    await llm.start()
    dc = await FakeDiscord().start()
    port = free_port()
    tally = Tally()
    samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB)
    async with FakeTelegram() as tg, aiohttp.ClientSession() as session:
        tg_bot = tg.add_bot("soak_bot", "Aiko")
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), tg, tg_bot, dc, llm, port, history_messages)
            senders = [_sender(i, tg_bot, dc) for i in range(users)]
            seeded = time.perf_counter()
            history = history_messages or MemorySettings().history_messages
            await seed_histories(database_url(Path(tmp)), [(key, name) for _, key, name in senders], history)
            print(f"seeded {users} histories of {history} messages in {time.perf_counter() - seeded:.0f} s")
            log = (Path(tmp) / "anima.log").open("w")
            command = ["-m", "anima.cli", "--config", str(config), "run"]
            if traced:  # the same, counted on SIGUSR1 (bench/traced_run.py), the figures written into tmp
                command = ["-m", "bench.traced_run", "--snapshots", tmp, f"--{traced}", "--", *command[2:]]
            child = await asyncio.create_subprocess_exec(sys.executable, *command, cwd=REPO, stderr=log)
            snapshots: list[Path] = []
            mappings: list[Counter[str]] = []
            grown: list[str] = []
            try:
                await wait_ready(session, port, child, 600 if traced == "tracemalloc" else 120)
                print(f"anima run ready (pid {child.pid}); {users} people for {minutes:g} min", flush=True)
                replies = Replies(tg_bot, dc)
                watcher = asyncio.create_task(replies.watch())
                first = await warm_up(replies, tg_bot, dc, users)
                print(f"first reply after start: {first:.1f} s (safety model, caches); the clock starts now")
                started = time.monotonic()
                until = started + minutes * 60
                people = [
                    asyncio.create_task(person_loop(send, replies, tally, until, think_s, random.Random(i)))
                    for i, (send, _, _) in enumerate(senders)
                ]
                faults = asyncio.create_task(inject_faults(llm, tg_bot, dc, tally, until, fault_every_s))
                print("   t s | sent | answered | unanswered | p99 window ms | RSS MB | queue | errors")
                while time.monotonic() < until:
                    await asyncio.sleep(min(sample_s, max(0.0, until - time.monotonic())))
                    figures = await scrape(session, port)
                    t, rss = time.monotonic() - started, rss_mb(child.pid)
                    samples.append((t, rss))
                    if t >= warmed_up_s(minutes):  # mappings after warm-up, and at the last sample
                        mappings = [*mappings[:1], rss_by_mapping(child.pid)]
                    if traced and not snapshots and t >= warmed_up_s(minutes):
                        snapshots.append(await snapshot(child, Path(tmp), 0))
                    print(
                        f"{t:6.0f} | {tally.sent:4d} | {tally.answered:8d} | {tally.unanswered:10d} "
                        f"| {percentile(tally.window_ms, 0.99):13.0f} | {rss:6.1f} "
                        f"| {figures.get('anima_queue_depth', 0):5.0f} "
                        f"| {figures.get('anima_errors_total', 0):.0f}",
                        flush=True,
                    )
                    tally.window_ms.clear()
                await asyncio.wait_for(asyncio.gather(*people, faults), REPLY_TIMEOUT_S + 30)
                final = await scrape(session, port)
                if snapshots:
                    snapshots.append(await snapshot(child, Path(tmp), 1))
                    grown = census_growth(snapshots[0], snapshots[1])
                    if traced == "tracemalloc":
                        grown += traced_growth(Path(tmp) / "0.snap", Path(tmp) / "1.snap")
                watcher.cancel()
            finally:
                if child.returncode is None:
                    child.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(child.wait(), 60)
                log.close()
                errors_logged = sum(
                    1
                    for line in (Path(tmp) / "anima.log").read_text().splitlines()
                    if '"level": "ERROR"' in line
                )
        degraded = _degraded(tg_bot, dc)
    await dc.close()
    await llm.stop()
    warm = [rss for t, rss in samples if t >= warmed_up_s(minutes)]
    return {
        "tally": tally,
        "samples": samples,
        "metrics": final,
        "degraded": degraded,
        "errors_logged": errors_logged,
        "exit_code": child.returncode,
        "rss_warm_mb": warm[0] if warm else 0.0,
        "rss_end_mb": warm[-1] if warm else 0.0,
        "traced": grown,
        "mappings": mappings,
    }


def warmed_up_s(minutes: float) -> float:
    """When the warm-up ends: RSS growth is measured from the first sample after it."""
    return max(60.0, minutes * 60 * 0.2)


async def snapshot(child: asyncio.subprocess.Process, folder: Path, n: int) -> Path:
    """Have the traced child write census `n` (bench/traced_run.py) and wait for it."""
    path = folder / f"{n}.census.json"
    child.send_signal(signal.SIGUSR1)
    async with asyncio.timeout(120):
        while not path.exists():  # noqa: ASYNC110 - another process writes it: no event to wait on
            await asyncio.sleep(0.2)
    return path


def census_growth(first: Path, last: Path, top: int = 12) -> list[str]:
    """What grew between two censuses of the bot (bench/traced_run.py): its allocators' figures, then
    the object types, big containers (by who holds them) and asyncio tasks that grew most."""
    before, after = (json.loads(path.read_text()) for path in (first, last))

    def grew(figures: str, name: str) -> int:
        return int(after[figures].get(name, 0) - before[figures].get(name, 0))

    arenas, in_blocks = (grew("python_allocator", name) for name in _OBMALLOC)
    lines = [
        f"objects tracked by gc: {before['objects']} -> {after['objects']}",
        f"CPython's allocator: arenas {arenas:+d}, bytes in allocated blocks {in_blocks / 2**20:+.2f} MB",
        "glibc's heap: "
        + ", ".join(f"{label} {grew('glibc', k) / 2**20:+.2f} MB" for k, label in _GLIBC.items()),
    ]
    for title in ("types", "containers", "tasks"):
        grown = sorted(
            ((grew(title, k), k) for k in after[title].keys() | before[title].keys()), reverse=True
        )
        shown = [f"{k} {n:+d}" for n, k in grown[:top] if n > 0]
        lines.append(f"{title} that grew (items): " + ("; ".join(shown) or "none"))
    return lines


_OBMALLOC = ("arenas allocated current", "bytes in allocated blocks")
_GLIBC = {"arena": "taken", "uordblks": "in use", "fordblks": "free", "hblkhd": "mmapped"}


def traced_growth(first: Path, last: Path, top: int = 12) -> list[str]:
    """What Python allocated between two snapshots and still holds: the total, then the `top`
    allocation sites by growth, each with the deepest of Anima's frames that led to it."""
    import tracemalloc

    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen*")]
    before = tracemalloc.Snapshot.load(str(first)).filter_traces(ignore)
    after = tracemalloc.Snapshot.load(str(last)).filter_traces(ignore)
    stats = after.compare_to(before, "traceback")
    total = sum(stat.size_diff for stat in stats)
    lines = [f"traced by tracemalloc: {total / 2**20:+.2f} MB between the two snapshots"]
    for stat in stats[:top]:
        frames = list(stat.traceback)  # oldest first: the allocation is the last
        ours = next((f for f in reversed(frames) if "/anima/" in f.filename), frames[-1])
        lines.append(
            f"{stat.size_diff / 2**10:+9.0f} KB {stat.count_diff:+7d} blocks  "
            f"{frames[-1].filename.rsplit('/', 2)[-1]}:{frames[-1].lineno}  "
            f"(from {ours.filename.split('/anima/')[-1]}:{ours.lineno})"
        )
    return lines


async def warm_up(replies: Replies, tg_bot: FakeBot, dc: FakeDiscord, users: int) -> float:
    """One message on each platform, answered before the people arrive: the seconds until the slower."""
    sent = time.monotonic()
    futures = []
    for i in (users, users + 1):
        key, at = await _sender(i, tg_bot, dc)[0]("hello")
        futures.append(replies.expect(key, at))
    answered = await asyncio.wait_for(asyncio.gather(*futures), 120)
    return max(answered) - sent


def _sender(i: int, tg_bot: FakeBot, dc: FakeDiscord) -> tuple[Any, ConversationKey, str]:
    """A function that sends one message as person `i` (even people on Telegram, odd on Discord),
    the key of their conversation with Aiko, and their name."""
    if i % 2 == 0:
        who = person(50_000 + i, f"P{i}")
        chat = private_chat(who)

        async def send_telegram(text: str) -> tuple[str, float]:
            sent_at = time.monotonic()
            tg_bot.send_text(chat, who, text)
            return f"tg:{chat['id']}", sent_at

        return send_telegram, ConversationKey("telegram", str(chat["id"]), str(who["id"]), "aiko"), f"P{i}"
    user = dc.user(f"person{i}")
    channel = dc.dm_channel(user)

    async def send_discord(text: str) -> tuple[str, float]:
        sent_at = time.monotonic()
        message = await dc.say(channel, user, text)
        return f"dc:{message['id']}", sent_at

    return send_discord, ConversationKey("discord", channel, user["id"], "aiko"), f"person{i}"


async def seed_histories(url: str, people: list[tuple[ConversationKey, str]], messages: int) -> None:
    """Give every person a stored history of `messages` turns before the bot starts: the bot's
    history cache is then at its bound from each person's first message, so RSS after warm-up
    measures growth, not a cache filling up (with 200 messages a person it never would in a soak)."""
    store = await MemoryStore.open(url)
    talk = Talk()
    try:
        for n, (key, name) in enumerate(people):
            state = await store.conversation(key, name, private=True)
            lines = [talk.line() for _ in range(messages)]
            await store.run(partial(fill_conversation, conversation_id=state.id, contents=lines, user=n))
    finally:
        await store.close()


def _degraded(tg_bot: FakeBot, dc: FakeDiscord) -> int:
    """Replies that reached a person but were not the full reply: apologies and cut-off replies."""
    telegram = [m.text for m in tg_bot.messages.values() if m.kind == "text"]
    discord = [m.get("content", "") for m in dc.messages.values() if m["author"]["id"] == dc.bot["id"]]
    return sum(1 for text in telegram + discord if REPLY not in text)


def _kinds(result: dict[str, Any]) -> str:
    kinds = {
        name.split('"')[1]: value
        for name, value in result["metrics"].items()
        if name.startswith("anima_errors_total{") and value
    }
    return ", ".join(f"{kind}: {value:.0f}" for kind, value in sorted(kinds.items())) or "none"


def print_summary(result: dict[str, Any], command: str) -> None:
    tally: Tally = result["tally"]
    m = result["metrics"]
    growth = (result["rss_end_mb"] / result["rss_warm_mb"] - 1) * 100 if result["rss_warm_mb"] else 0.0
    print(f"\n$ {command}")
    print("| soak | value |")
    print("|---|---|")
    rows = [
        ("messages sent", f"{tally.sent}"),
        ("answered", f"{tally.answered} ({tally.answered / max(1, tally.sent):.2%})"),
        ("unanswered within 60 s", f"{tally.unanswered}"),
        ("replies that were apologies or cut off", f"{result['degraded']}"),
        ("errors counted by /metrics", f"{m.get('anima_errors_total', 0):.0f} ({_kinds(result)})"),
        ("LLM retries / breaker skips / failed calls", f"{m.get('anima_llm_retries_total', 0):.0f} / "
         f"{m.get('anima_llm_breaker_skips_total', 0):.0f} / {m.get('anima_llm_failures_total', 0):.0f}"),
        ("ERROR lines in the bot's log", f"{result['errors_logged']}"),
        ("faults injected", ", ".join(f"{k}: {v}" for k, v in sorted(tally.faults.items())) or "none"),
        ("latency message → first reply p50 / p99", f"{percentile(tally.latencies_ms, 0.5):.0f} / "
         f"{percentile(tally.latencies_ms, 0.99):.0f} ms"),
        ("RSS after warm-up → at the end", f"{result['rss_warm_mb']:.1f} → {result['rss_end_mb']:.1f} MB "
         f"({growth:+.1f}%, target < +5%)"),
        ("exit code after SIGTERM", f"{result['exit_code']}"),
    ]  # fmt: skip
    for name, value in rows:
        print(f"| {name} | {value} |")
    if len(result["mappings"]) == 2:
        before, after = result["mappings"]
        grown = sorted(((after[k] - before[k], k) for k in after.keys() | before.keys()), reverse=True)
        shown = ", ".join(f"{name} {kb / 1024:+.1f}" for kb, name in grown[:6] if kb > 0)
        print(f"\nRSS growth after warm-up by mapping (MB): {shown or 'none'}")
    if result["traced"]:  # the census's (and tracemalloc's) own memory is in RSS: not the figure to quote
        print("\n(counted in the bot process) " + "\n".join(result["traced"]))
    report.record("messages answered", f"{tally.answered}/{tally.sent}", "", command)
    report.record("unanswered within 60 s", tally.unanswered, "", command)
    report.record("p99 message → first reply", percentile(tally.latencies_ms, 0.99), "ms", command)
    report.record("RSS growth after warm-up (target < 5%)", f"{growth:+.1f}%", "", command)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--users", type=int, default=200, help="half on Telegram, half on Discord")
    parser.add_argument("--think-s", type=float, default=8.0, help="mean pause between a reply and the next")
    parser.add_argument("--fault-every-s", type=float, default=3.0, help="mean time between injected faults")
    parser.add_argument("--sample-s", type=float, default=15.0)
    parser.add_argument(
        "--history-messages", type=int, help="memory.history_messages (the per-conversation cache)"
    )
    traced = parser.add_mutually_exclusive_group()
    traced.add_argument(
        "--census",
        action="store_const",
        const="census",
        dest="traced",
        default="",
        help="count what the bot holds after warm-up and at the end; print what grew",
    )
    traced.add_argument(
        "--tracemalloc",
        action="store_const",
        const="tracemalloc",
        dest="traced",
        help="the census, and the bot under tracemalloc: which allocations grew",
    )
    parser.add_argument("--write", action="store_true", help="store the figures in bench/results/soak.json")
    args = parser.parse_args(argv)
    # The fakes log the bot's half-read requests when it is stopped; that is the test's doing, not a fault.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    command = f".venv/bin/python -m bench.soak --minutes {args.minutes:g} --users {args.users}"
    if args.think_s != parser.get_default("think_s"):
        command += f" --think-s {args.think_s:g}"
    if args.history_messages is not None:
        command += f" --history-messages {args.history_messages}"
    date, started, load = report.now(), time.perf_counter(), report.load_average()
    tee = report.Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        print(f"$ {command}   ({os.cpu_count()} CPUs)")
        result = asyncio.run(
            soak(
                args.minutes,
                args.users,
                args.think_s,
                args.fault_every_s,
                args.sample_s,
                args.history_messages,
                args.traced,
            )
        )
        print_summary(result, command)
    if args.write:
        seconds = time.perf_counter() - started
        output = tee.copy.getvalue()
        figures = report.take()
        run = report.BenchRun("soak", date, report.machine(), seconds, figures, output, load_average=load)
        run.save()
        report.write()


if __name__ == "__main__":
    main(sys.argv[1:])
