"""Hostile cards: what refusing each kind costs (CPU, peak RSS), and lorebook activation at the caps.

Every hostile file of tests/characters/hostile.py is made and handled in a child process that
measures only the handling (getrusage before and after). Then one message at a time goes through a
card with the most lorebook entries a card may use (10,000: its own 5,000 and a shared 5,000), once
with the index (what runs) and once scanning every key of every entry (what ran before), in one run.

Run: .venv/bin/python -m bench hostile_cards_bench
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from anima.characters.card import Lorebook, LorebookEntry
from anima.characters.limits import MAX_ENTRIES_PER_LOREBOOK
from anima.characters.lorebook import (
    DEFAULT_MAX_RECURSION_STEPS,
    SCAN_BUDGET_S,
    Activation,
    _activation,
    _Candidate,
    _Searcher,
    _triggered,
    activate,
    split_decorators,
)
from bench.report import record
from tests.characters.hostile import CASES, measure

COMMAND = ".venv/bin/python -m bench hostile_cards_bench"
WORDS = "tea rain cat moon river lantern market harbour bridge garden tower forest".split()


def scan_every_entry(books: Sequence[Lorebook], messages: Sequence[str]) -> list[Activation]:
    """Activation as it was before the index: every entry's keys searched for every message."""
    searcher = _Searcher(SCAN_BUDGET_S)
    candidates = [
        _Candidate(entry, book, split_decorators(entry.content)) for book in books for entry in book.entries
    ]
    active: dict[int, Activation] = {}
    for candidate in candidates:
        depth = candidate.scan_depth
        text = "\n".join(messages[len(messages) - depth :])
        if candidate.entry.constant:
            active[id(candidate.entry)] = _activation(candidate, recursive=False, constant=True)
        elif _triggered(candidate, text, searcher):
            active[id(candidate.entry)] = _activation(candidate, recursive=False, constant=False)
    fresh = list(active.values())
    for _ in range(DEFAULT_MAX_RECURSION_STEPS if any(b.recursive_scanning for b in books) else 0):
        buffer = "\n".join(a.text for a in fresh)
        fresh = []
        for candidate in candidates:
            if id(candidate.entry) not in active and _triggered(candidate, buffer, searcher):
                active[id(candidate.entry)] = a = _activation(candidate, recursive=True, constant=False)
                fresh.append(a)
        if not fresh:
            break
    return list(active.values())


def capped_books(regex_every: int) -> list[Lorebook]:
    """Two lorebooks of 5,000 entries (the cap per lorebook; 10,000 is the cap per card)."""
    books = []
    for half in range(2):
        entries = []
        for i in range(MAX_ENTRIES_PER_LOREBOOK):
            word = f"{WORDS[i % len(WORDS)]}{half}x{i}"
            regex = regex_every and i % regex_every == 0
            keys = [rf"/{word}s?\b/i"] if regex else [word, f"{word}-alt"]
            entries.append(LorebookEntry(keys=keys, content=f"Fact {i} about {word}: " + "detail " * 30))
        books.append(Lorebook(entries=entries, scan_depth=4, recursive_scanning=True))
    return books


def per_message_ms(
    scan: Callable[[Sequence[Lorebook], Sequence[str]], list[Activation]], books: list[Lorebook], rounds: int
) -> tuple[float, list[set[str]]]:
    """Milliseconds per message, and what each of the first messages activated."""
    history = [f"turn {i}: " + "word " * 20 for i in range(60)]
    scan(books, [*history, "warm-up"])  # the index is built on the first message, once per lorebook
    started = time.perf_counter()
    found = []
    for i in range(rounds):
        message = f"did you see the {WORDS[i % 12]}{i % 2}x{i * 7 % 5000}?"
        found.append({a.text for a in scan(books, [*history, message])})
    return (time.perf_counter() - started) * 1000 / rounds, found[:5]


def main() -> None:
    print(f"`{COMMAND}`\n")
    print("| hostile card (what is done with it) | answer | CPU s | peak RSS MB over baseline |")
    print("|---|---|---|---|")
    worst_cpu, worst_rss = 0.0, 0.0
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            outcome = measure(case, Path(folder))
        answer = "refused" if outcome.problems else "valid" if case.action == "validate" else "installed"
        print(f"| {case.name} ({case.action}) | {answer} | {outcome.cpu_s:.2f} | {outcome.rss_mb:.0f} |")
        worst_cpu, worst_rss = max(worst_cpu, outcome.cpu_s), max(worst_rss, outcome.rss_mb)
    record("hostile cards: worst CPU per file", round(worst_cpu, 2), "s", COMMAND)
    record("hostile cards: worst peak RSS per file", round(worst_rss), "MB", COMMAND)

    print(
        "\n| lorebook activation, 10,000 entries (the cap), 60-message history "
        "| before: every key | after: index | × faster |"
    )
    print("|---|---|---|---|")
    for label, regex_every in (("plain keys", 0), ("1 in 5 keys a regex", 5)):
        books = capped_books(regex_every)
        before, found_before = per_message_ms(scan_every_entry, books, 5)
        after, found_after = per_message_ms(activate, books, 50)
        same = "" if found_before == found_after else " (they activated different entries!)"
        print(f"| {label}{same} | {before:.1f} ms | {after:.2f} ms | {before / after:.0f} |")
        record(f"lorebook activation at the cap, {label}: before", round(before, 1), "ms/message", COMMAND)
        record(f"lorebook activation at the cap, {label}: after", round(after, 2), "ms/message", COMMAND)
