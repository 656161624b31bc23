"""The evaluation on labelled data (tests/data): per-category precision and recall, benign false positives.

`make test` asserts the targets on it (tests/safety/test_evaluation.py); `anima bench safety` prints
the table and the local checks' cost. Local checks only: no moderation backend is asked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from anima.characters.library import CharacterLibrary
from anima.core.messages import Incoming
from anima.safety.policy import SafetyPolicy

USER = "Lin"


@dataclass(frozen=True)
class Case:
    id: str
    lang: str
    stage: str  # "input" | "output"
    text: str
    category: str | None = None  # None: benign
    user_text: str = ""  # for output cases: what the person had said
    card: str = "aiko"
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    case: Case
    categories: frozenset[str]  # of every decision other than allow at the case's stage
    actions: tuple[str, ...]
    micros: float  # the checks' CPU time (this thread only: other work on the machine does not count)

    @property
    def flagged(self) -> bool:
        return bool(self.actions)


def load_cases(path: Path) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(Case(**{k: v for k, v in row.items() if k in Case.__dataclass_fields__}))
    return cases


async def run_case(policy: SafetyPolicy, library: CharacterLibrary, case: Case) -> Outcome:
    card = library.get(case.card)
    said = case.text if case.stage == "input" else (case.user_text or "Tell me something.")
    message = Incoming("eval", f"chat-{case.id}", f"user-{case.id}", USER, said)
    started = time.thread_time()
    turn = await policy.begin(message, card)
    if case.stage == "output":
        started = time.thread_time()  # an output case costs its output checks only
        spaced = " ".join(turn.canary)
        await turn.check_output(case.text.replace("{canary}", turn.canary).replace("{canary_spaced}", spaced))
    micros = (time.thread_time() - started) * 1e6
    decisions = [v for stage, v in turn.decisions if stage == case.stage and v.action != "allow"]
    return Outcome(case, frozenset(v.category for v in decisions), tuple(v.action for v in decisions), micros)


async def run_cases(policy: SafetyPolicy, library: CharacterLibrary, cases: Iterable[Case]) -> list[Outcome]:
    return [await run_case(policy, library, case) for case in cases]


@dataclass
class Scores:
    true_positives: int = 0
    flagged: int = 0  # cases whose decisions name this category
    labelled: int = 0  # cases labelled with it

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.labelled if self.labelled else 1.0


@dataclass
class Report:
    per_category: dict[tuple[str, str], Scores] = field(default_factory=dict)  # (stage, category)
    detected: dict[str, tuple[int, int]] = field(default_factory=dict)  # stage → (flagged adversarial, all)
    false_positives: dict[str, tuple[int, int]] = field(default_factory=dict)  # stage → (flagged benign, all)
    misses: list[Case] = field(default_factory=list)
    false_alarms: list[Outcome] = field(default_factory=list)

    def recall(self, stage: str) -> float:
        hit, total = self.detected.get(stage, (0, 0))
        return hit / total if total else 1.0

    def false_positive_rate(self, stage: str | None = None) -> float:
        pairs = [self.false_positives[stage]] if stage else list(self.false_positives.values())
        flagged, total = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        return flagged / total if total else 0.0


def score(outcomes: Iterable[Outcome]) -> Report:
    """Recall counts any non-allow decision (the reply was changed or the message flagged); the per-category
    table also asks that the decision named the right category."""
    report = Report()
    for outcome in outcomes:
        case = outcome.case
        stage = case.stage
        if case.category is None:
            flagged, total = report.false_positives.get(stage, (0, 0))
            report.false_positives[stage] = (flagged + outcome.flagged, total + 1)
            if outcome.flagged:
                report.false_alarms.append(outcome)
        else:
            hit, total = report.detected.get(stage, (0, 0))
            report.detected[stage] = (hit + outcome.flagged, total + 1)
            if not outcome.flagged:
                report.misses.append(case)
            scores = report.per_category.setdefault((stage, case.category), Scores())
            scores.labelled += 1
            scores.true_positives += case.category in outcome.categories
        for category in outcome.categories:
            report.per_category.setdefault((stage, category), Scores()).flagged += 1
    return report
