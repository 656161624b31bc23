"""Hostile cards: each kind is refused with an error naming the file and the field, within 2 s of CPU
and 200 MB of memory, and nothing is written; a card at the caps still goes in within the same bounds.

Costs are measured in a child process (tests/characters/hostile.py), from getrusage before and after
the work, never as timed assertions in this process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.characters.hostile import CASES, Case, measure

MAX_CPU_S = 2.0
MAX_RSS_MB = 200


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hostile_card_costs_bounded_cpu_and_memory_and_gets_a_clear_answer(
    case: Case, tmp_path: Path
) -> None:
    outcome = measure(case, tmp_path)
    assert outcome.cpu_s <= MAX_CPU_S, f"{outcome.cpu_s:.2f} s of CPU"
    assert outcome.rss_mb <= MAX_RSS_MB, f"{outcome.rss_mb:.0f} MB over the baseline"
    if case.expect:
        [problem, *_] = outcome.problems
        assert case.expect in problem
        assert Path(case.file).name in problem or "lorebooks[0]" in problem  # it names the file
        assert outcome.written == []  # nothing was installed
    else:
        assert outcome.problems == []
        assert outcome.written or case.action == "validate"  # the card was installed (or found valid)
