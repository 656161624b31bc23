"""Safety: per-category precision/recall on tests/data, benign false positives, and the local checks' cost.

Run: anima bench safety  (or: .venv/bin/python -m bench safety_bench)
Local checks only (no moderation backend). Cost is CPU time (this thread) per message of the input
checks (input cases) or the output checks (output cases), audit off, garbage collection paused while
timing (as timeit does); the first pass warms caches and is not counted.
"""

from __future__ import annotations

import gc
import statistics
from pathlib import Path

from anima.characters.library import CharacterLibrary
from anima.safety.evaluation import load_cases, run_cases, score
from anima.safety.policy import SafetyPolicy
from bench.report import record

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
COMMAND = "anima bench safety"
ROUNDS = 5


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    library = CharacterLibrary.load(REPO / "characters")
    policy = SafetyPolicy()
    await policy.start()
    adversarial = load_cases(DATA / "safety_adversarial.jsonl")
    benign = load_cases(DATA / "safety_benign.jsonl")
    cases = adversarial + benign
    outcomes = await run_cases(policy, library, cases)  # warm-up, and the figures
    report = score(outcomes)
    costs: dict[str, list[float]] = {"input": [], "output": []}
    gc.disable()  # as timeit does: a collection pause belongs to the whole process, not to the checks
    try:
        for _ in range(ROUNDS):
            policy = SafetyPolicy()  # fresh flood counters
            for outcome in await run_cases(policy, library, cases):
                costs[outcome.case.stage].append(outcome.micros)
    finally:
        gc.enable()

    print(f"$ {COMMAND}")
    langs = sorted({c.lang for c in cases})
    print(
        f"{len(adversarial)} adversarial and {len(benign)} benign cases ({', '.join(langs)}); "
        "local checks only\n"
    )
    print("| stage | category | cases | precision | recall |")
    print("|---|---|---|---|---|")
    for (stage, category), s in sorted(report.per_category.items()):
        if s.labelled:
            print(f"| {stage} | {category} | {s.labelled} | {s.precision:.2f} | {s.recall:.2f} |")
    print()
    print("| figure | value | target |")
    print("|---|---|---|")
    hit, total = report.detected["output"]
    print(f"| adversarial recall, output side | {report.recall('output'):.3f} ({hit}/{total}) | ≥ 0.95 |")
    record("adversarial recall, output side (target ≥ 0.95)", f"{report.recall('output'):.3f}", "", COMMAND)
    hit, total = report.detected["input"]
    print(f"| adversarial recall, input side | {report.recall('input'):.3f} ({hit}/{total}) | |")
    for stage in ("input", "output"):
        flagged, total = report.false_positives[stage]
        print(f"| benign false positives, {stage} | {flagged / total:.2%} ({flagged}/{total}) | ≤ 1% |")
        record(f"benign false positives, {stage} (target ≤ 1%)", f"{flagged / total:.2%}", "", COMMAND)
    for stage in ("input", "output"):
        samples = costs[stage]
        print(
            f"| local checks, {stage}: p50 / p99 per message | {statistics.median(samples) / 1000:.3f} / "
            f"{percentile(samples, 0.99) / 1000:.3f} ms | p99 ≤ 1 ms |"
        )
        record(f"local checks, {stage}, p99 per message", percentile(samples, 0.99) / 1000, "ms", COMMAND)
    if report.misses:
        print("\nmissed:")
        for case in report.misses:
            print(f"  {case.id} {case.stage} {case.category}: {case.text[:90]}")
    if report.false_alarms:
        print("\nfalse alarms:")
        for outcome in report.false_alarms:
            print(
                f"  {outcome.case.id} {outcome.case.stage} {sorted(outcome.categories)}: "
                f"{outcome.case.text[:90]}"
            )
