"""Start-up's objects are frozen out of the garbage collector's passes once the runtime has settled.

In a fresh interpreter (this one has frozen its first runtime long ago): a full collection then walks
only what was made since, not the ~230,000 objects start-up left (each such pass was a 2-10 ms pause
in whichever turn it fell).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
PROBE = """
import asyncio, gc, json, sys
from anima.app import Runtime
from anima.config import MemorySettings, Settings
from anima.core.messages import Incoming
from tests.fakes.llm import InstantLLM

async def main(db):
    settings = Settings(
        characters_dir="characters", memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{db}")
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", InstantLLM())
    before = gc.get_freeze_count()
    await runtime.settled()
    frozen = gc.get_freeze_count()
    reply = await runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "hello there"))
    assert reply is not None and reply.text == "You said: hello there"
    walked = len(gc.get_objects())  # what a full collection walks now
    await runtime.close()
    second = await Runtime.start(settings)
    await second.settled()
    again = gc.get_freeze_count()
    await second.close()
    print(json.dumps({"before": before, "frozen": frozen, "walked": walked, "again": again}))

asyncio.run(main(sys.argv[1]))
"""


def test_start_up_objects_leave_the_collectors_passes_once_the_runtime_settled(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "anima.db")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["before"] == 0  # nothing frozen while the models still load
    assert counts["frozen"] > 5 * counts["walked"]  # a full collection walks a small part of the heap
    # a second runtime in the process freezes nothing more (the first one's, closed, were freed)
    assert counts["again"] <= counts["frozen"]
