"""Fit recall's learned score (anima.memory.recall.WEIGHTS) on LoCoMo's tuning conversations.

Run: .venv/bin/python -m bench.recall_fit [--locomo DIR]   (prints the WEIGHTS line to paste)

Each tuning conversation (anima.memory.locomo.TUNED_ON; the held-out ones are never read) is
replayed with the default vectors; for every question, each candidate recall re-ranks is one
example: its features, and whether it is (or was learned from) an evidence turn. A logistic
regression with balanced classes gives one weight per feature; the held-out conversations then
judge it in `anima bench memory --locomo`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from anima.memory import locomo
from anima.memory.recall import FEATURES, RecallRequest, candidates, without_names
from anima.memory.store import MemoryStore
from bench.memory_bench import DEFAULT_LOCOMO


async def examples(path: Path) -> tuple[list[tuple[float, ...]], list[bool]]:
    features: list[tuple[float, ...]] = []
    labels: list[bool] = []
    tuning = {name: data for name, data in locomo.conversations(path).items() if name in locomo.TUNED_ON}
    for data in tuning.values():
        with tempfile.TemporaryDirectory() as tmp:
            store = await MemoryStore.open(f"sqlite:///{tmp}/fit.db", vectors=True)
            index = store.vectors
            assert index is not None
            try:
                replayed = await locomo.replay(store, data)
                for qa, evidence in replayed.questions(data):
                    vector = index.embed_now([without_names(qa["question"], replayed.speakers)])[0]
                    request = RecallRequest(
                        replayed.state.id,
                        qa["question"],
                        replayed.now,
                        speakers=replayed.speakers,
                        vector=vector,
                    )
                    found = await store.read(lambda conn, r=request, i=index: candidates(conn, r, i))
                    for candidate in found:
                        if candidate.features:
                            features.append(candidate.features)
                            labels.append(
                                bool(replayed.dias(candidate.hit.kind, candidate.hit.item_id) & evidence)
                            )
            finally:
                await store.close()
    return features, labels


def fit(features: list[tuple[float, ...]], labels: list[bool]) -> tuple[float, ...]:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    model = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced").fit(features, labels)
    return tuple(round(float(w), 3) for w in model.coef_[0])


def main() -> None:
    parser = argparse.ArgumentParser(prog="recall_fit")
    parser.add_argument("--locomo", type=Path, default=DEFAULT_LOCOMO)
    features, labels = asyncio.run(examples(parser.parse_args().locomo))
    weights = fit(features, labels)
    print(
        f"# {len(labels)} candidates, {sum(labels)} evidence; "
        + ", ".join(f"{n}: {w}" for n, w in zip(FEATURES, weights, strict=True))
    )
    print(f"WEIGHTS = {weights}")


if __name__ == "__main__":
    main()
