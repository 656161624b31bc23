"""`anima` under tracemalloc, for the soak's growth hunt: SIGUSR1 writes a snapshot to the next
path of `--snapshots DIR` (0.snap, 1.snap, …); everything after `--` is `anima`'s own arguments.

Run by bench/soak.py with --tracemalloc; not a way to run Anima.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from anima.cli import main as anima

FRAMES = 8  # deep enough to tell which cache an allocation lands in


def _snapshots(folder: Path) -> None:
    numbers = itertools.count()

    def dump(_signum: int, _frame: FrameType | None) -> None:
        path = folder / f"{next(numbers)}.snap"
        tracemalloc.take_snapshot().dump(f"{path}.part")
        os.replace(f"{path}.part", path)  # whole when it appears: the soak waits for it

    signal.signal(signal.SIGUSR1, dump)


if __name__ == "__main__":
    args = sys.argv[1:]
    cut = args.index("--")
    folder = Path(args[args.index("--snapshots") + 1])
    tracemalloc.start(FRAMES)
    _snapshots(folder)
    sys.exit(anima(args[cut + 1 :]))
