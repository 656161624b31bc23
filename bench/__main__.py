"""`make bench`: run every bench/*_bench.py (or the ones named on the command line) in turn.

Each module has `main() -> None` (sync) or `async main()`, prints its table with the command that
produced it, records its headline figures with `bench.report.record`, and never asserts on time:
benchmarks report, tests decide. With `--write` (what `make bench` passes) each bench's figures
and output are stored in bench/results/, and bench/RESULTS.md is rebuilt.
A bench that fails is reported and the others still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path

from bench import report


def run_one(name: str) -> report.BenchRun:
    module_name = f"bench.{name.removesuffix('.py')}"
    print(f"\n=== {module_name} ===", flush=True)
    started, date, load = time.perf_counter(), report.now(), report.load_average()
    tee = report.Tee(sys.stdout)
    error = ""
    report.take()
    with contextlib.redirect_stdout(tee):
        try:
            result = importlib.import_module(module_name).main()
            if inspect.isawaitable(result):
                asyncio.run(result)
        except Exception as exc:
            traceback.print_exc(file=tee)
            error = f"{type(exc).__name__}: {exc}".replace("|", "/").replace("\n", " ")[:200]
    seconds = time.perf_counter() - started
    print(f"({seconds:.1f} s)", flush=True)
    output = tee.copy.getvalue()
    return report.BenchRun(name, date, report.machine(), seconds, report.take(), output, error, load)


def main(names: list[str], write: bool = False) -> int:
    here = Path(__file__).parent
    modules = names or sorted(p.stem for p in here.glob("*_bench.py"))
    failed = 0
    for name in modules:
        run = run_one(name.removesuffix(".py"))
        failed += bool(run.error)
        if write:
            run.save()
    if write:
        report.write()
    return 1 if failed else 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    sys.exit(main([a for a in arguments if a != "--write"], write="--write" in arguments))
