"""Safety: the held-out evaluation of the guard on public data and our contrast set, then the regression
set (tests/data): per-category precision/recall, benign false positives, the checks' cost.

Run: anima bench safety  (or: .venv/bin/python -m bench safety_bench)
Both evaluations live in the package (anima/safety/benchmark.py, anima/safety/evaluation.py, so
`anima bench safety` works on an installed wheel); this bench records their figures in RESULTS.md.
No moderation backend.
"""

from __future__ import annotations

from pathlib import Path

from anima.safety import benchmark
from anima.safety.evaluation import run_bench
from bench.report import record_all

REPO = Path(__file__).resolve().parent.parent


async def main() -> None:
    record_all(await benchmark.run_bench(REPO / "characters"))
    print("\n--- regression set (our own labelled cases) ---\n")
    record_all(await run_bench(REPO / "tests" / "data", REPO / "characters"))
