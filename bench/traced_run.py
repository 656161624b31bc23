"""`anima` with a memory census on demand, for the soak's growth hunt: SIGUSR1 writes census `n`
(0, 1, …) into `--snapshots DIR`: `n.census.json` (objects by type, the big containers and who
holds them, asyncio tasks, CPython's and glibc's allocator figures) and, under `--tracemalloc`,
a tracemalloc snapshot `n.snap`; everything after `--` is `anima`'s own arguments.

Run by bench/soak.py with --census or --tracemalloc; not a way to run Anima.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import itertools
import json
import os
import signal
import sys
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from anima.cli import main as anima

FRAMES = 8  # deep enough to tell which cache an allocation lands in
BIG = 256  # containers with at least this many items are listed, by who holds them


def census() -> dict[str, Any]:
    """What the process holds now, in figures that two censuses can be diffed by."""
    gc.collect()
    objects = gc.get_objects()
    types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
    big = {id(o): o for o in objects if _sized(o) and len(o) >= BIG}
    return {
        "objects": len(objects),
        "types": dict(types.most_common(60)),
        "containers": _holders(objects, big),
        "tasks": _tasks(),
        "python_allocator": _obmalloc(),
        "glibc": _mallinfo(),
    }


def _sized(o: object) -> bool:
    return isinstance(o, dict | list | set | frozenset) or type(o).__name__ in ("deque", "OrderedDict")


def _holders(objects: list[object], big: dict[int, Any]) -> dict[str, int]:
    """Each big container's length, named by what holds it: `Class.attribute` for an instance's
    attribute, `module.name` for a global, else its type and the holder's type."""
    dict_owner: dict[int, str] = {}  # id of a __dict__ → its object's class or module name
    for o in objects:
        if isinstance(o, ModuleType):
            dict_owner[id(vars(o))] = o.__name__
        elif not isinstance(o, type):
            try:
                d = object.__getattribute__(o, "__dict__")
            except Exception:  # no __dict__, or a proxy that refuses: not an owner
                continue
            if isinstance(d, dict):
                dict_owner[id(d)] = type(o).__qualname__
    names: dict[int, str] = {}
    for o in objects:
        if isinstance(o, dict) and id(o) in dict_owner:
            for key, value in o.items():
                if id(value) in big:
                    names.setdefault(id(value), f"{dict_owner[id(o)]}.{key}")
    for o in objects:  # held in a slot, a list or a closure: named by the holder's type
        for referent in gc.get_referents(o):
            if id(referent) in big and id(referent) not in names:
                names[id(referent)] = f"{type(referent).__name__} in a {type(o).__qualname__}"
    found: Counter[str] = Counter()
    for key, container in big.items():
        found[names.get(key, f"{type(container).__name__} held elsewhere")] += len(container)
    return dict(found.most_common(80))


def _tasks() -> dict[str, int]:
    try:
        tasks = asyncio.all_tasks()  # the handler runs on the loop's thread, between its callbacks
    except RuntimeError:
        return {}
    return dict(Counter(t.get_coro().__qualname__ for t in tasks).most_common(30))  # type: ignore[union-attr]


def _obmalloc() -> dict[str, int]:
    """CPython's small-object allocator: arenas held and the bytes in use in them."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    figures = {}
    for line in text.splitlines():
        if line.startswith("# ") and "=" in line:
            name, _, value = line[2:].partition("=")
            figures[name.strip()] = int(value.strip().replace(",", ""))
    return figures


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")
    ]  # fmt: skip


def _mallinfo() -> dict[str, int]:
    """glibc's heap: `arena` taken from the system (besides mmapped blocks, `hblkhd`), `uordblks`
    of it in use, `fordblks` free but kept."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    return {field[0]: int(getattr(info, field[0])) for field in _Mallinfo2._fields_}


def _on_signal(folder: Path) -> None:
    numbers = itertools.count()

    def dump(_signum: int, _frame: FrameType | None) -> None:
        n = next(numbers)
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(str(folder / f"{n}.snap"))
        path = folder / f"{n}.census.json"
        try:
            found = census()
        except Exception as exc:  # raised in a signal handler, it would land in the bot
            found = {"error": repr(exc)}
        path.with_suffix(".part").write_text(json.dumps(found))
        os.replace(path.with_suffix(".part"), path)  # whole when it appears: the soak waits for it

    signal.signal(signal.SIGUSR1, dump)


if __name__ == "__main__":
    args = sys.argv[1:]
    cut = args.index("--")
    folder = Path(args[args.index("--snapshots") + 1])
    if "--tracemalloc" in args[:cut]:
        tracemalloc.start(FRAMES)
    _on_signal(folder)
    sys.exit(anima(args[cut + 1 :]))
