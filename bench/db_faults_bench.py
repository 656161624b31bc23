"""SQLite locked by another process for a while, under steady traffic: do replies wait, is anything lost?

Simulated people (each sends a message, reads the reply, pauses a second) talk to the real pipeline
(instant LLM) on a SQLite file while another process holds the write lock (BEGIN IMMEDIATE) for
HOLD_S seconds. Reported: replies answered during the lock and their time, how long after the lock
ends every message is stored, messages lost, and how many log lines the memory store wrote.

Run: .venv/bin/python -m bench db_faults_bench   (about 40 seconds)
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from anima.app import Runtime
from anima.config import ConversationSettings, MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming
from tests.fakes.llm import InstantLLM

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench db_faults_bench"
PEOPLE = 10
HOLD_S = 30.0
PAUSE_S = 1.0
HOLD_WRITE_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.rollback()
"""


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.by_level: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.by_level[record.levelname] = self.by_level.get(record.levelname, 0) + 1


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="anima-dbfaults-"))
    settings = Settings(
        characters_dir=REPO / "characters",
        memory=MemorySettings(
            database_url=f"sqlite+aiosqlite:///{folder}/anima.db", summarize_every=0, llm_facts_every=0
        ),
        conversation=ConversationSettings(coalesce_ms=0),  # one reply per message, as counted
        safety=SafetySettings(flood_messages=1000),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", InstantLLM())
    counter = Counter()
    logging.getLogger("anima.memory.store").addHandler(counter)
    logging.getLogger("anima.memory.store").setLevel(logging.DEBUG)
    logging.getLogger("anima.memory.store").propagate = False
    for person in range(PEOPLE):
        await runtime.pipeline.handle(Incoming("bench", f"c{person}", f"u{person}", "Lin", "hello"))

    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_WRITE_LOCK, str(folder / "anima.db"), str(HOLD_S),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None
    await holder.stdout.readline()
    locked_at = time.monotonic()
    times: list[float] = []
    sent = 0

    async def talk(person: int) -> None:
        nonlocal sent
        n = 0
        while time.monotonic() - locked_at < HOLD_S:
            n += 1
            started = time.monotonic()
            await runtime.pipeline.handle(
                Incoming("bench", f"c{person}", f"u{person}", "Lin", f"message {n}")
            )
            times.append(time.monotonic() - started)
            sent += 1
            await asyncio.sleep(PAUSE_S)

    await asyncio.gather(*(talk(person) for person in range(PEOPLE)))
    await holder.wait()
    released_at = time.monotonic()
    await runtime.memory.settled(within_s=120)
    landed_s = time.monotonic() - released_at
    await runtime.close()
    with sqlite3.connect(folder / "anima.db") as db:
        stored = db.execute("SELECT count(*) FROM messages WHERE content LIKE '%message %'").fetchone()[0]
    db.close()

    print(
        f"{COMMAND}: {PEOPLE} people, one message per second each after the reply, lock held {HOLD_S:.0f} s"
    )
    print("| replies during the lock | p50 reply | max reply | stored after release | lost | log lines |")
    print("|---|---|---|---|---|---|")
    logs = ", ".join(f"{n} {level}" for level, n in sorted(counter.by_level.items())) or "none"
    print(
        f"| {len(times)} | {statistics.median(times) * 1000:.0f} ms | {max(times) * 1000:.0f} ms "
        f"| {landed_s:.1f} s | {2 * sent - stored} | {logs} |"
    )


if __name__ == "__main__":
    asyncio.run(main())
