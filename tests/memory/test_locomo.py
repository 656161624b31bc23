"""LoCoMo evidence recall stays at its measured level (bench/RESULTS.md has the seven conversations).

One conversation, conv-47, held out from tuning (anima.memory.locomo.TUNED_ON), so the floors judge
what recall learned on the others. The floors are its figures at
the time minus a margin (before the learned re-ranking: 0.823 and 0.813). Skipped where the shared
benchmark data is absent.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from anima.memory import locomo

DATA = Path(os.environ.get("ANIMA_LOCOMO", Path(__file__).resolve().parents[3] / "shared/benchmarks/locomo"))
CONVERSATION = DATA / "conv-47.json"
FULL_TEXT_FLOOR = 0.87  # measured 0.877 (0.883 before word match and session openers, fit with vectors on)
STATIC_FLOOR = 0.895  # measured 0.910
pytestmark = pytest.mark.skipif(not CONVERSATION.is_file(), reason=f"no LoCoMo data at {DATA}")


def test_the_floors_are_judged_on_a_conversation_recall_was_not_tuned_on() -> None:
    assert CONVERSATION.stem not in locomo.TUNED_ON


async def test_full_text_recall_at_10_holds() -> None:
    results = await locomo.evaluate(CONVERSATION)
    assert results.mean(10) >= FULL_TEXT_FLOOR


@pytest.mark.skipif(importlib.util.find_spec("all_minilm_l6_v2") is None, reason="needs the model wheel")
async def test_static_vectors_recall_at_10_holds_within_the_token_budget() -> None:
    results = await locomo.evaluate(CONVERSATION, encoder="static")
    assert results.mean(10) >= STATIC_FLOOR
    # the budget of recalled context: 1,000 tokens for the top ten, for every question
    assert max(results.tokens_at_10) <= 1000
