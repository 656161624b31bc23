"""Safety: per-category precision/recall on tests/data, benign false positives, and the local checks' cost.

Run: anima bench safety  (or: .venv/bin/python -m bench safety_bench)
The evaluation lives in the package (anima/safety/evaluation.py, so `anima bench safety` works on
an installed wheel); this bench records its figures in RESULTS.md. Local checks only.
"""

from __future__ import annotations

from pathlib import Path

from anima.safety.evaluation import run_bench
from bench.report import record_all

REPO = Path(__file__).resolve().parent.parent


async def main() -> None:
    record_all(await run_bench(REPO / "tests" / "data", REPO / "characters"))
