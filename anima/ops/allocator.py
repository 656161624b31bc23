"""glibc malloc settings for a long-running bot process: one arena, and freed memory given back.

glibc gives each thread that allocates its own arena (up to 8 per core), and an arena keeps what
was freed in it. Anima's threads (the SQLite writer, the embedding and model-loading workers,
asyncio's executor) do little but each kept its own few MB, so a burst's peak RSS was 15-25 MB higher
than with one arena; under the GIL they hardly ever allocate at the same moment, so sharing costs no
measurable CPU. Other C libraries (musl, macOS) have neither knob: there this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt's parameter numbers, from glibc's malloc.h
ARENAS = 1


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018  (musl has no mallopt: the attribute lookup raises)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator() -> None:
    """One malloc arena for every thread (call it before the threads start: a thread that already
    allocated keeps its arena)."""
    libc = _glibc()
    if libc is not None and not libc.mallopt(M_ARENA_MAX, ARENAS):
        log.debug("mallopt(M_ARENA_MAX) was refused; threads keep their own arenas")


def release_freed() -> None:
    """Give the pages malloc holds free back to the system (after a one-off load: a model's file
    read and parsed leaves tens of MB free but still resident)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
