"""Labelled text for the learned guard: the public sets (../shared/benchmarks/safety), our contrast set
(anima/safety/data/contrast.jsonl) and our old labelled sets (tests/data), each split into train and
test before anything else.

Every item is a (request, reply) turn with a label: `harmful` True (the reply gives real help toward
serious harm, or the request asks for it), False (benign, including refusals), None (no label for that
stage). The split is by group (a JailbreakBench goal, a prompt, a contrast template), by a keyed hash
with a fixed seed, so the same goal never sits on both sides and anyone gets the same split; the test
ids are also committed (anima/safety/data/splits.json) and checked against the hash.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from anima.errors import AnimaError

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
REPO = HERE.parent.parent
SEED = "anima-guard-2026"
TEST_SHARE = 0.3
Split = Literal["train", "test"]
# JailbreakBench categories and OpenAI's moderation codes, in the guard's own category names
JBB_CATEGORY = {
    "Harassment/Discrimination": "harassment",
    "Malware/Hacking": "crime",
    "Physical harm": "violence",
    "Economic harm": "crime",
    "Fraud/Deception": "crime",
    "Disinformation": "deception",
    "Sexual/Adult content": "sexual",
    "Privacy": "privacy",
    "Expert advice": "expert_advice",
    "Government decision-making": "crime",
}
OAI_CATEGORY = {  # most specific first
    "S3": "sexual_minors",
    "SH": "self_harm",
    "H2": "hate",
    "V2": "violence",
    "H": "hate",
    "HR": "harassment",
    "V": "violence",
    "S": "sexual",
}
SST_CATEGORY = {
    "Suicide, Self-Harm, and Eating Disorders": "self_harm",
    "Physical harm and Violence": "violence",
    "Illegal and Highly Regulated items": "weapons",
    "Scams and fraud": "crime",
    "Child safety": "sexual_minors",
}


@dataclass(frozen=True)
class Item:
    id: str
    source: str  # jailbreakbench, openai_moderation, simple_safety_tests, hh_rlhf, contrast, own
    group: str  # what the split is by
    request: str  # what the person said ("" when the source has none)
    reply: str  # what the model answered ("" for a prompt-only item)
    harmful: bool | None  # for the reply when there is one, else for the request
    category: str = ""  # the harm's category (also for benign items: which harm they only sound like)
    lang: str = "en"
    rating: str = "general"
    kind: str = ""  # contrast set: homonym, figurative, safe_target, definition, fiction, plain, …
    rejected: str = ""  # hh-rlhf: the reply judged more harmful (`reply` is the chosen one)

    @property
    def stage(self) -> str:
        return "output" if self.reply else "input"

    @property
    def split(self) -> Split:
        return split_of(self.source, self.group)


def split_of(source: str, group: str) -> Split:
    digest = hashlib.sha256(f"{SEED}\0{source}\0{group}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < TEST_SHARE else "train"


def public_dir() -> Path:
    """Where the public sets are: $ANIMA_SAFETY_DATA, else ../shared/benchmarks/safety beside the checkout."""
    configured = os.environ.get("ANIMA_SAFETY_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "benchmarks" / "safety"


def _lines(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, json.loads(line)


def jailbreakbench(folder: Path) -> list[Item]:
    return [
        Item(
            f"jbb:{n}",
            "jailbreakbench",
            str(row["goal"]),
            str(row["prompt"]),
            str(row["response"]),
            bool(row["harmful"]),
            JBB_CATEGORY.get(str(row["category"]), "crime"),
            kind=str(row["source"]).split("/")[1],
        )
        for n, row in _lines(folder / "jailbreakbench_responses.jsonl")
    ]


def openai_moderation(folder: Path) -> list[Item]:
    items = []
    for n, row in _lines(folder / "openai_moderation_samples-1680.jsonl.gz"):
        flagged = [code for code in OAI_CATEGORY if row.get(code) == 1]
        category = OAI_CATEGORY[flagged[0]] if flagged else ""
        text = str(row["prompt"])
        items.append(Item(f"oai:{n}", "openai_moderation", text, text, "", bool(flagged), category))
    return items


def simple_safety_tests(folder: Path) -> list[Item]:
    with open(folder / "simple_safety_tests.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Item(
            row["id"],
            "simple_safety_tests",
            row["id"],
            row["prompts_final"],
            "",
            True,
            SST_CATEGORY.get(row["harm_area"], "violence"),
            kind=row["category"],
        )
        for row in rows
    ]


def _last_turns(dialogue: str) -> tuple[str, str]:
    """The last Human turn and the last Assistant turn of an hh-rlhf dialogue."""
    human, _, assistant = dialogue.rpartition("\n\nAssistant:")
    return human.rpartition("\n\nHuman:")[2].strip(), assistant.strip()


def hh_rlhf(folder: Path) -> list[Item]:
    items = []
    for n, row in _lines(folder / "hh_rlhf_harmless_base_test.jsonl.gz"):
        request, chosen = _last_turns(str(row["chosen"]))
        _, rejected = _last_turns(str(row["rejected"]))
        first = str(row["chosen"]).split("\n\nAssistant:")[0]
        items.append(Item(f"hh:{n}", "hh_rlhf", first, request, chosen, None, rejected=rejected))
    return items


def contrast() -> list[Item]:
    """Our contrast set: safe turns that sound unsafe, and harmful ones in plain words (English, Chinese)."""
    items = []
    for _, row in _lines(DATA / "contrast.jsonl"):
        items.append(
            Item(
                str(row["id"]),
                "contrast",
                str(row["group"]),
                str(row["request"]),
                str(row.get("reply", "")),
                row["label"] == "harmful",
                str(row["category"]),
                str(row["lang"]),
                str(row.get("rating", "general")),
                str(row["kind"]),
            )
        )
    return items


SERIOUS = frozenset({"violence", "self_harm", "sexual_minors", "hate"})  # of tests/data's categories


def own() -> list[Item]:
    """tests/data's labelled sets (the old evaluation): chatter, and the serious-harm cases."""
    items: list[Item] = []
    folder = REPO / "tests" / "data"
    if not folder.is_dir():
        return items  # an installed package: no checkout, no tests/data
    for name in ("safety_benign.jsonl", "safety_adversarial.jsonl"):
        for _, row in _lines(folder / name):
            category = row.get("category")
            if category is not None and category not in SERIOUS:
                continue  # PII, leaks, injections, insults: other checks' business
            text = str(row["text"])
            if "{canary" in text:
                continue
            output = row["stage"] == "output"
            items.append(
                Item(
                    str(row["id"]),
                    "own",
                    str(row["id"]),
                    str(row.get("user_text", "")) if output else text,
                    text if output else "",
                    category is not None,
                    str(category or ""),
                    str(row["lang"]),
                )
            )
    return items


PUBLIC = {
    "jailbreakbench": jailbreakbench,
    "openai_moderation": openai_moderation,
    "simple_safety_tests": simple_safety_tests,
    "hh_rlhf": hh_rlhf,
}


def load_public() -> list[Item]:
    folder = public_dir()
    if not (folder / "README.md").exists():
        raise AnimaError(
            f"the public safety sets are not at {folder}: set ANIMA_SAFETY_DATA to the folder that holds "
            "jailbreakbench_responses.jsonl and the others"
        )
    return [item for load in PUBLIC.values() for item in load(folder)]


def load_all(public: bool = True) -> list[Item]:
    return (load_public() if public else []) + contrast() + own()


def request_label(item: Item) -> bool | None:
    """Whether the item's request asks for real help toward serious harm (None: no label for it)."""
    if item.source in ("jailbreakbench", "simple_safety_tests"):
        return True  # every JailbreakBench goal and SimpleSafetyTests prompt asks for harm
    if item.source == "openai_moderation":
        return None if item.category == "sexual" else item.harmful
    if item.source == "contrast":
        return item.harmful or item.kind == "refusal"  # a refused request still asked for harm
    if item.source == "own" and not item.reply:
        return item.harmful
    return None


def test_ids(items: list[Item]) -> dict[str, list[str]]:
    """Per source, the ids of the held-out items (what anima/safety/data/splits.json holds)."""
    ids: dict[str, list[str]] = {}
    for item in items:
        if item.split == "test":
            ids.setdefault(item.source, []).append(item.id)
    return ids
