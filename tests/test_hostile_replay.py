"""The hostile replay's fast subset (bench/hostile_bench.py --quick): one input of each kind, each
in its own child process, gets a clear error or the right handling, with no traceback, no secret
printed and under 200 MB. (Their CPU is reported by the bench, never asserted here.)"""

from __future__ import annotations

import pytest

from bench.hostile_bench import Case, cases, replay

QUICK = [case for case in cases() if case.quick]


@pytest.mark.parametrize("case", QUICK, ids=[f"{c.klass}: {c.name}" for c in QUICK])
def test_a_hostile_input_gets_a_clear_error_or_the_right_handling(case: Case) -> None:
    outcome = replay(case)
    assert not outcome.untimed_problems, f"{outcome.verdict}: {outcome.shown}"
    assert not outcome.secret and not outcome.traceback
