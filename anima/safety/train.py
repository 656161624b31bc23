"""`anima safety train`: fit the learned guard on the train splits and write its weights.

Deterministic: the split is a keyed hash (anima/safety/corpus.py), the vocabulary is sorted, the
solver is liblinear with a fixed seed, and weights are rounded, so anyone retraining on the same data
gets the same file. The thresholds are chosen on out-of-fold scores of the train split (five folds,
by group), never on the test split. Needs scikit-learn (installed with alt-profanity-check); the bot
itself never imports it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from anima.safety.classifier import (
    MODEL_PATH,
    SHORT_WORDS,
    TABLE_NAME,
    TOKENS_NAME,
    GuardModel,
    TokenVectors,
    encode_floats,
    features,
    reply_features,
)
from anima.safety.corpus import DATA, Item, load_all, request_label, test_ids
from anima.safety.encoder import ADAPTER_PATH, GRAPH_PATH, ContextEncoder
from anima.safety.encoder_graph import build as build_graph

# MiniLM's layers the contextual encoder runs: two read held-out text better than the static vectors
# alone within the cost (~3 ms of one core for 128 tokens; all six ~25 ms)
ENCODER_LAYERS = 2
MIN_DF = 2
MAX_FEATURES = 60_000
C = 4.0
WEIGHT = {"contrast": 6.0, "own": 2.0}  # our own sets are small and teach what the public ones lack
FOLDS = 5
# out-of-fold false-positive rates the thresholds are set for: a reply on its own; a reply to a message
# that asked for harm (benign there means a refusal or a non-answer); a message logged; a message refused
TARGET_FALSE_POSITIVES = {
    "reply": 0.03,  # long replies: out-of-fold rates ran about twice the held-out ones there
    "reply_asked": 0.06,
    "reply_asked_short": 0.06,
    "request": 0.03,
    "request_block": 0.005,
}
CATEGORIES = (
    "violence",
    "weapons",
    "self_harm",
    "sexual_minors",
    "sexual",
    "crime",
    "hate",
    "harassment",
    "privacy",
)
CATEGORY_FALLBACK = {"deception": "crime", "expert_advice": "crime"}


@dataclass(frozen=True)
class Example:
    counts: dict[str, int]
    label: int
    weight: float
    group: str
    category: str
    reply: str = ""  # the texts whose token vectors the example also carries
    request: str = ""
    asked: bool = False  # a reply example whose request asked for harm


def reply_examples(items: Sequence[Item]) -> list[Example]:
    out = []
    for item in items:
        if item.harmful is None:
            continue
        if item.source == "openai_moderation":  # user-written text: as a reply it says what a reply may not
            if item.category == "sexual":
                continue  # adult content is a rating question, not serious harm
            out.append(_example(reply_features("", item.request), item, item.harmful, item.request, ""))
        elif item.reply:
            counts = reply_features(item.request, item.reply)
            example = _example(counts, item, item.harmful, item.reply, item.request)
            out.append(replace(example, asked=bool(request_label(item))))
    return out


def request_examples(items: Sequence[Item]) -> list[Example]:
    out, goals = [], set()
    for item in items:
        label = request_label(item)
        if label is None or not item.request.strip():
            continue
        if item.source == "jailbreakbench":
            if item.group in goals:
                continue
            goals.add(item.group)
            out.append(_example(features(item.group), item, True, "", item.group))  # the plain goal, once
        out.append(_example(features(item.request), item, label, "", item.request))
    return out


def _example(counts: dict[str, int], item: Item, label: bool | None, reply: str, request: str) -> Example:
    category = CATEGORY_FALLBACK.get(item.category, item.category)
    group = f"{item.source}:{item.group}"
    return Example(counts, int(bool(label)), WEIGHT.get(item.source, 1.0), group, category, reply, request)


def distilled() -> object:
    """Each MiniLM vocabulary token run through the encoder alone, cached (shared with memory recall)."""
    from anima.memory.embedding import token_vectors

    return token_vectors()


def token_vectors() -> tuple[dict[str, object], Any]:
    """The distilled vectors, centred (their common direction says nothing), as int8 with a scale per
    dimension. All 384 dimensions in their own basis: fewer principal components lost held-out recall,
    and a per-dimension maximum needs the encoder's dimensions, not a rotation of them."""
    import base64

    import numpy as np

    from anima.memory.embedding import minilm_tokenizer

    raw = np.asarray(distilled(), np.float64)
    centred = raw - raw.mean(axis=0)
    scale = np.abs(centred).max(axis=0) / 127.0
    table = np.round(centred / scale).astype(np.int8)
    vocab = minilm_tokenizer().get_vocab()
    special = sorted(i for t, i in vocab.items() if t.startswith("[") and t.endswith("]"))
    meta = {
        "dims": table.shape[1],
        "scale": base64.b64encode(scale.astype(np.float32).tobytes()).decode(),
        "special": special,
    }
    return meta, table


def vocabulary(examples: Sequence[Example]) -> dict[str, float]:
    """Features seen in MIN_DF examples or more (the MAX_FEATURES commonest), sorted, with smoothed idf."""
    import math

    df: dict[str, int] = {}
    for example in examples:
        for feature in example.counts:
            df[feature] = df.get(feature, 0) + 1
    kept = sorted((f for f, n in df.items() if n >= MIN_DF), key=lambda f: (-df[f], f))[:MAX_FEATURES]
    n = len(examples)
    return {f: round(math.log((1 + n) / (1 + df[f])) + 1.0, 6) for f in sorted(kept)}


def matrix(model: GuardModel, examples: Sequence[Example]) -> Any:
    """The examples as the runtime vectorises them (GuardModel.vector and .dense), so training and scoring
    agree: the TF-IDF part, then the reply's and the request's token-vector means."""
    import numpy as np
    from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped]  # scipy ships no type hints

    rows, cols, values, dense = [], [], [], []
    for r, example in enumerate(examples):
        for j, value in model.vector(example.counts).items():
            rows.append(r)
            cols.append(j)
            values.append(value)
        if example.reply:
            dense.append(model.dense(example.reply, "", model.request_vector(example.request)))
        else:
            # the request head reads a message's mean only: on a short line the maximum is a few
            # tokens' own vectors, and everyday lines ("My grandma taught me to knit today.") scored
            # like requests for harm; a column of zeros gets no weight
            vector = model.dense("", example.request)
            width, dims = model.tokens.width, model.tokens.dims
            vector[width + dims : width + 2 * dims] = 0.0
            dense.append(vector)
    sparse = csr_matrix((values, (rows, cols)), shape=(len(examples), len(model.index)))
    return hstack([sparse, csr_matrix(np.array(dense, np.float32))]).tocsr()


def fit(x: Any, y: Any, weights: Any, c: float = C) -> Any:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]  # scikit-learn ships no type hints

    clf = LogisticRegression(C=c, solver="liblinear", class_weight="balanced", random_state=0, max_iter=1000)
    clf.fit(x, y, sample_weight=weights)
    return clf


def out_of_fold(x: Any, examples: Sequence[Example]) -> list[float]:
    import numpy as np

    scores = np.zeros(len(examples))
    folds = np.array([hash_fold(e.group) % FOLDS for e in examples])
    y = np.array([e.label for e in examples])
    w = np.array([e.weight for e in examples])
    for k in range(FOLDS):
        train, held = folds != k, folds == k
        if y[train].min() == y[train].max():
            continue
        scores[held] = fit(x[train], y[train], w[train]).predict_proba(x[held])[:, 1]
    return [float(s) for s in scores]


def hash_fold(group: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"fold\0{group}".encode()).digest()[:4], "big")


def threshold(scores: Sequence[float], labels: Sequence[int], target: float) -> float:
    """The lowest threshold whose out-of-fold false-positive rate on benign examples is ≤ target."""
    benign = sorted((s for s, y in zip(scores, labels, strict=True) if y == 0), reverse=True)
    allowed = int(target * len(benign))
    return round(min(0.99, max(0.5, benign[allowed] + 1e-6 if allowed < len(benign) else 0.5)), 4)


def reply_thresholds(oof: Sequence[float], examples: Sequence[Example]) -> dict[str, float]:
    """The reply head's lines, each on its own out-of-fold scores. After any message: one line, chosen
    on long replies (short ones' benign scores spread too low to set it: a friendly deflection of a
    prompt injection scored 0.87). After a message that asked for harm: every reply to such a message,
    JailbreakBench's too (its judge's "not jailbroken" also marks replies that comply but say little,
    and their share is what that target allows), with a line of their own for short replies (fewer
    than SHORT_WORDS words: our contrast set's plain answers score lower than the public sets' long
    ones, and one line for both let most of them through)."""
    lines = {}
    for name, short in (("reply", False), ("reply_asked", False), ("reply_asked_short", True)):
        kept = [
            (s, e.label)
            for s, e in zip(oof, examples, strict=True)
            if (len(_text(e).split()) < SHORT_WORDS) == short and (e.asked or name == "reply")
        ]
        target = TARGET_FALSE_POSITIVES[name]
        lines[name] = threshold([s for s, _ in kept], [label for _, label in kept], target)
    return lines


def _text(example: Example) -> str:
    """The text a reply example's reply head scores: the reply, or a moderation sample as one."""
    return example.reply or example.request


def train(out: Path = MODEL_PATH) -> dict[str, object]:
    import numpy as np

    items = load_all()
    train_items = [i for i in items if i.split == "train"]
    replies, requests = reply_examples(train_items), request_examples(train_items)
    idf = vocabulary([*replies, *requests])
    tokens, table = token_vectors()
    build_graph(ENCODER_LAYERS, GRAPH_PATH)  # the same bytes until the encoder changes
    encoder = ContextEncoder(ENCODER_LAYERS, adapter=adapter())
    shell = GuardModel(_file(idf, {}, {}), TokenVectors(tokens, table, encoder))
    heads: dict[str, dict[str, object]] = {}
    thresholds: dict[str, float] = {}
    report: dict[str, object] = {"features": len(idf), "replies": len(replies), "requests": len(requests)}
    for name, examples in (("reply", replies), ("request", requests)):
        x = matrix(shell, examples)
        y = np.array([e.label for e in examples])
        w = np.array([e.weight for e in examples])
        heads[name] = _head(fit(x, y, w), idf)
        oof = out_of_fold(x, examples)
        if name == "reply":
            thresholds.update(reply_thresholds(oof, examples))
        else:
            thresholds[name] = threshold(oof, list(y), TARGET_FALSE_POSITIVES[name])
        if name == "request":
            thresholds["request_block"] = threshold(oof, list(y), TARGET_FALSE_POSITIVES["request_block"])
    harmful = [e for e in [*replies, *requests] if e.label and e.category in CATEGORIES]
    x = matrix(shell, harmful)
    for category in CATEGORIES:
        y = np.array([int(e.category == category) for e in harmful])
        heads["category:" + category] = _head(fit(x, y, np.ones(len(harmful)), c=2.0), idf)
    write_model(_file(idf, heads, thresholds), out)
    write_tokens(tokens, table, out)  # the same bytes until the encoder changes
    splits = DATA / "splits.json"
    splits.write_text(json.dumps(test_ids(items), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    report["thresholds"] = thresholds
    return report


def adapter() -> Path | None:
    """The encoder's adapters (`python -m anima.safety.finetune`), when there are any: the heads are
    fitted over the adapted encoder, and the model file names the adapters it needs."""
    return ADAPTER_PATH if ADAPTER_PATH.exists() else None


def write_model(model: dict[str, object], out: Path) -> None:
    """Byte for byte the same for the same model: no time and no file name in the gzip header."""
    data = json.dumps(model, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    with open(out, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(data)


def write_tokens(tokens: dict[str, object], table: Any, out: Path) -> None:
    """The token table beside the model file: its dims, scale and special ids as JSON, the int8 rows as
    .npy (the bot maps it, so only the rows of tokens it meets become resident)."""
    import numpy as np

    write_model(tokens, out.with_name(TOKENS_NAME))
    np.save(out.with_name(TABLE_NAME), np.ascontiguousarray(table, np.int8), allow_pickle=False)


def _head(clf: Any, idf: dict[str, float]) -> dict[str, object]:
    return {"intercept": round(float(clf.intercept_[0]), 6), "weights": encode_floats(clf.coef_[0])}


def _file(
    idf: dict[str, float],
    heads: dict[str, dict[str, object]],
    thresholds: dict[str, float],
) -> dict[str, object]:
    return {
        "version": "5",
        "encoder_layers": ENCODER_LAYERS,
        "encoder_adapter": found.name if (found := adapter()) else "",
        "vocabulary": "\n".join(idf),
        "idf": encode_floats(idf.values()),
        "heads": heads,
        "categories": list(CATEGORIES),
        "thresholds": thresholds,
    }
