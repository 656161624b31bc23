"""Card benchmarks: what a lorebook adds to building one prompt, and how long a PNG card takes to import.

Run: make bench  (or: .venv/bin/python -m bench cards_bench)
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import time
from pathlib import Path

from anima.characters import png
from anima.characters.card import CharacterCard, Lorebook, LorebookEntry
from anima.characters.importer import read_card
from anima.characters.library import load_card
from anima.characters.tavern import card_to_tavern
from anima.core.messages import ChatMessage
from anima.core.prompt import PromptBuilder
from anima.core.tokens import CachedCounter, TiktokenCounter
from bench.report import record

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench cards_bench"
WORDS = "tea rain cat moon river lantern market harbour bridge garden tower forest".split()


def lorebook(entries: int, regex_every: int = 5) -> Lorebook:
    """`entries` entries with two keys each; every `regex_every`-th uses a regex key."""
    made = []
    for i in range(entries):
        word = f"{WORDS[i % len(WORDS)]}{i}"
        keys = [rf"/{word}s?\b/i"] if regex_every and i % regex_every == 0 else [word, f"{word}-alt"]
        made.append(LorebookEntry(keys=keys, content=f"Fact {i} about {word}: " + "detail " * 30))
    return Lorebook(entries=made, scan_depth=4, recursive_scanning=True, token_budget=600)


async def time_builds(card: CharacterCard, history: list[ChatMessage], rounds: int) -> float:
    builder = PromptBuilder(CachedCounter(TiktokenCounter()))
    await builder.build(card, "Lin", history, "warm-up", 8192, 400)
    started = time.perf_counter()
    for i in range(rounds):
        await builder.build(card, "Lin", history, f"did you see the {WORDS[i % 12]}{i % 40}?", 8192, 400)
    return (time.perf_counter() - started) * 1000 / rounds


def import_png(rounds: int) -> float:
    aiko = load_card(REPO / "characters" / "aiko.yaml")
    card = card_to_tavern(aiko.model_copy(update={"lorebook": lorebook(100)}), "v2")
    chunk = base64.b64encode(json.dumps(card).encode()).decode()
    data = png.with_texts(png.plain_image(256), {"chara": chunk})
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        for _ in range(rounds):
            read_card(data, "aiko.png", Path(tmp))
        return (time.perf_counter() - started) * 1000 / rounds


async def main() -> None:
    aiko = load_card(REPO / "characters" / "aiko.yaml")
    history = [ChatMessage("user" if i % 2 else "assistant", f"turn {i}: " + "word " * 20) for i in range(60)]
    rounds = 200
    rows = [("no lorebook", await time_builds(aiko, history, rounds))]
    for entries in (50, 200, 1000):
        card = aiko.model_copy(update={"lorebook": lorebook(entries)})
        name = f"{entries} entries (1 in 5 regex, recursive)"
        rows.append((name, await time_builds(card, history, rounds)))
    base = rows[0][1]
    print(f"`{COMMAND}`\n")
    print("| prompt build (aiko, 60-turn history, 8k window) | ms per prompt | × no lorebook |")
    print("|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} | {ms / base:.1f} |")
    record("prompt build, no lorebook", base, "ms", COMMAND)
    record(f"prompt build, lorebook of {rows[-1][0]}", rows[-1][1], "ms", COMMAND)
    print("\n| import a PNG card (aiko + 100 lorebook entries, 256 px avatar) | ms |")
    print("|---|---|")
    png_ms = import_png(50)
    print(f"| decode, validate, render YAML and check it reads back | {png_ms:.1f} |")
    record("import a PNG card (100 lorebook entries)", png_ms, "ms", COMMAND)


if __name__ == "__main__":
    asyncio.run(main())
