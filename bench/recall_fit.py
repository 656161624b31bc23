"""Fit recall's learned score (anima.memory.recall.WEIGHTS) on LoCoMo's tuning conversations.

Run: .venv/bin/python -m bench.recall_fit [--locomo DIR]   (prints the WEIGHTS line to paste)

Each tuning conversation (anima.memory.locomo.TUNED_ON; the held-out ones are never read) is
replayed with the default vectors; for every question, the candidates recall re-ranks are labelled
by whether each is (or was learned from) an evidence turn. The examples are pairs within one
question: an evidence candidate's features minus those of up to PAIRS others (a seeded sample),
so the regression learns what puts one memory above another of the same question, which is all
recall uses the score for (fit on single candidates instead, recall@10 on the tuning set was 0.836,
not 0.843). A logistic regression without intercept gives one weight per feature; the held-out
conversations then judge it in `anima bench memory --locomo`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from pathlib import Path
from typing import Any

from anima.memory import locomo
from anima.memory.recall import FEATURES, RecallRequest, candidates, without_names
from anima.memory.store import MemoryStore
from bench.memory_bench import DEFAULT_LOCOMO

PAIRS = 30  # other candidates each evidence candidate is compared with

# One question's re-ranked candidates: features, and whether each is evidence.
Question = list[tuple[tuple[float, ...], bool]]


async def examples(path: Path) -> list[Question]:
    questions: list[Question] = []
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
                    questions.append(
                        [
                            (c.features, bool(replayed.dias(c.hit.kind, c.hit.item_id) & evidence))
                            for c in found
                            if c.features
                        ]
                    )
            finally:
                await store.close()
    return questions


def fit(questions: list[Question]) -> tuple[float, ...]:
    """Weights that order each question's evidence above its other candidates (a logistic
    regression on differences of pairs, either way round at random, seeded)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    rng = random.Random(0)
    differences: list[Any] = []
    above: list[int] = []
    for question in questions:
        evidence = [np.array(f) for f, is_evidence in question if is_evidence]
        others = [np.array(f) for f, is_evidence in question if not is_evidence]
        for good in evidence:
            for other in rng.sample(others, min(len(others), PAIRS)) if others else []:
                flip = rng.random() < 0.5
                differences.append(good - other if flip else other - good)
                above.append(int(flip))
    model = LogisticRegression(C=1.0, max_iter=5000, fit_intercept=False).fit(differences, above)
    return tuple(round(float(w), 3) for w in model.coef_[0])


def main() -> None:
    parser = argparse.ArgumentParser(prog="recall_fit")
    parser.add_argument("--locomo", type=Path, default=DEFAULT_LOCOMO)
    questions = asyncio.run(examples(parser.parse_args().locomo))
    weights = fit(questions)
    evidence = sum(is_evidence for question in questions for _, is_evidence in question)
    print(
        f"# {len(questions)} questions, {evidence} evidence candidates; "
        + ", ".join(f"{n}: {w}" for n, w in zip(FEATURES, weights, strict=True))
    )
    print(f"WEIGHTS = {weights}")


if __name__ == "__main__":
    main()
