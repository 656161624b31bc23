"""Finished voice notes on disk, keyed by a hash of all that shapes the audio; least recently used go first.

One file per note: a JSON line (duration, waveform) then the OGG bytes, written to a temporary name
and renamed, so a reader never sees half a note. A hit touches the file, so eviction is least recently used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from anima.core.surface import VoiceNote

log = logging.getLogger(__name__)

SUFFIX = ".note"
_EVICT_TO = 0.8  # after going over the cap, evict down to this share of it


def cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()


class VoiceCache:
    """Blocking: runs on the voice pool. Safe across threads; across processes, best effort."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes on disk; counted on first use

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def get(self, key: str) -> VoiceNote | None:
        path = self._path(key)
        try:
            with path.open("rb") as file:
                meta = json.loads(file.readline())
                ogg = file.read()
            os.utime(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("voice cache: unreadable %s (%s); making the note afresh", path.name, exc)
            return None
        return VoiceNote(ogg=ogg, duration_s=meta["duration_s"], waveform_b64=meta["waveform_b64"])

    def put(self, key: str, note: VoiceNote) -> None:
        if self.max_bytes <= 0:
            return
        data = json.dumps({"duration_s": note.duration_s, "waveform_b64": note.waveform_b64}).encode()
        data += b"\n" + note.ogg
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, self._path(key))
        except OSError as exc:
            log.warning("voice cache: cannot write to %s (%s); notes are made afresh", self.directory, exc)
            return
        with self._lock:
            self._total = (self._total if self._total is not None else self._count()) + len(data)
            if self._total > self.max_bytes:
                self._evict()

    def size_bytes(self) -> int:
        with self._lock:
            self._total = self._count()
            return self._total

    def _files(self) -> list[os.DirEntry[str]]:
        try:
            return [e for e in os.scandir(self.directory) if e.name.endswith(SUFFIX)]
        except FileNotFoundError:
            return []

    def _count(self) -> int:
        total = 0
        for entry in self._files():
            try:
                total += entry.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def _evict(self) -> None:
        entries = []
        for entry in self._files():
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes * _EVICT_TO:
                break
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            total -= size
        self._total = total
