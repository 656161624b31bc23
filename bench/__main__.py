"""`make bench`: run every bench/*_bench.py (or the ones named on the command line) in turn.

Each module has `main() -> None` (sync) or `async main()`, prints its table with the command that
produced it, and never asserts on time: benchmarks report, tests decide.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import time
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = names or sorted(p.stem for p in here.glob("*_bench.py"))
    for name in modules:
        module = importlib.import_module(f"bench.{name.removesuffix('.py')}")
        print(f"\n=== {module.__name__} ===", flush=True)
        started = time.perf_counter()
        result = module.main()
        if inspect.isawaitable(result):
            asyncio.run(result)
        print(f"({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
