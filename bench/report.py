"""Headline figures for bench/RESULTS.md: a bench records each one as it prints its own table.

    from bench.report import record
    record("pipeline p99 per message", 7.3, "ms", COMMAND)

`python -m bench --write` collects what every bench recorded (and everything it printed) into
bench/results/<bench>.json, then renders bench/RESULTS.md from all of them: the one place figures
live (the README and docs/ link to it). Re-running one bench updates its rows and keeps the
others'. A bench that records nothing still gets a row pointing at its printed output.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from anima.ops.figures import Figure

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_MD = HERE / "RESULTS.md"


_recorded: list[Figure] = []


class Tee(io.TextIOBase):
    """Writes to the terminal and keeps a copy (what a bench printed goes into RESULTS.md)."""

    def __init__(self, terminal: TextIO) -> None:
        self.terminal = terminal
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.terminal.write(text)

    def flush(self) -> None:
        self.terminal.flush()


def record(name: str, value: float | int | str, unit: str, command: str) -> None:
    """Note one headline figure of the running bench, with the command that reproduces it."""
    _recorded.append(Figure(name, value, unit, command))


def record_all(figures: Iterable[Figure]) -> None:
    """Note the figures an evaluation inside the package returned (anima/memory, anima/safety)."""
    _recorded.extend(figures)


def take() -> list[Figure]:
    """The figures recorded since the last call."""
    taken = _recorded[:]
    _recorded.clear()
    return taken


@dataclass
class BenchRun:
    """One bench's run, as stored in bench/results/<bench>.json."""

    bench: str
    date: str
    machine: str
    seconds: float
    figures: list[Figure]
    output: str
    error: str = ""
    load_average: float = -1.0  # 1-minute load average at the start: other work skews the times

    def save(self, directory: Path = RESULTS_DIR) -> None:
        directory.mkdir(exist_ok=True)
        data = asdict(self)
        (directory / f"{self.bench}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> BenchRun:
        data = json.loads(path.read_text())
        data["figures"] = [Figure(**f) for f in data["figures"]]
        return cls(**data)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine() -> str:
    """CPU model, cores, memory and Python: what a reader needs to compare figures across machines."""
    cpu = platform.processor() or platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        cpu = re.search(r"model name\s*:\s*(.+)", cpuinfo).group(1).strip()  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    memory = ""
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()}, Python {platform.python_version()}"


def render(runs: list[BenchRun]) -> str:
    """bench/RESULTS.md: one table of every figure, then each bench's full output."""
    machines = sorted({run.machine for run in runs})
    dates = sorted(run.date for run in runs)
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench --write`); do not edit by hand.",
        "",
        f"- machine: {'; '.join(machines)}",
        f"- date: {dates[0]}" + (f" to {dates[-1]}" if dates and dates[-1] != dates[0] else ""),
        f"- load: {loads(runs)} (1-minute load average as each bench started; other work shares the machine)",
        "",
        table(runs),
        "",
        "Figures from one run on a shared 2-core machine: compare ratios within a run, not absolute",
        "times across machines. Each bench's own tables, with the caveats it prints, follow.",
    ]
    for run in runs:
        load = f", load average {run.load_average:.1f} at the start" if run.load_average >= 0 else ""
        lines += ["", f"## {run.bench}", "", f"{run.date}, {run.seconds:.0f} s{load}", ""]
        lines += ["```", run.output.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def table(runs: list[BenchRun]) -> str:
    rows = ["| bench | figure | value | command |", "|---|---|---|---|"]
    for run in runs:
        name = run.bench.removesuffix("_bench")
        if run.error:
            rows.append(f"| {name} | **failed** | {run.error} | `.venv/bin/python -m bench {run.bench}` |")
        for figure in run.figures:
            rows.append(f"| {name} | {figure.name} | {figure.shown()} | `{figure.command}` |")
        if not run.figures and not run.error:
            rows.append(f"| {name} | (tables in RESULTS.md) | | `.venv/bin/python -m bench {run.bench}` |")
    return "\n".join(rows)


def loads(runs: list[BenchRun]) -> str:
    known = sorted(run.load_average for run in runs if run.load_average >= 0)
    if not known:
        return "unknown"
    return f"{known[0]:.1f}" if known[0] == known[-1] else f"{known[0]:.1f}–{known[-1]:.1f}"


def load_all(directory: Path = RESULTS_DIR) -> list[BenchRun]:
    return [BenchRun.load(path) for path in sorted(directory.glob("*.json"))]


def load_average() -> float:
    return os.getloadavg()[0]


def write(directory: Path = RESULTS_DIR, results_md: Path = RESULTS_MD) -> None:
    """Render RESULTS.md from every stored run."""
    runs = load_all(directory)
    if not runs:
        return
    results_md.write_text(render(runs))
    print(f"wrote {results_md}")
