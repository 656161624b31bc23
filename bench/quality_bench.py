"""Does the embedded default hold a character? The three shipped cards, 20 fixed lines each.

Each card gets one running conversation (its 20 lines in order, English and Chinese) through the
real pipeline on the bundled SmolLM2-135M. Per reply: does a 4-gram occur more than twice (a
loop), does the character speak as the user or under another name, does it end mid-sentence; and
distinct-2 (distinct word bigrams / all bigrams) over each card's replies. "before" runs the
settings the embedded backend had before it was tuned for small models (the full prompt layout,
no repetition penalties, no reply tidying); "after" the defaults.

    .venv/bin/python -m bench quality_bench [--show]
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from anima.app import Runtime
from anima.config import EmbeddedBackend, LLMSettings, MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming
from bench.report import record

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench quality_bench"
USER = "Lin"

LINES: dict[str, list[str]] = {
    "aiko": [
        "Hi Aiko! I'm back from work.",
        "Work was long. My boss yelled at me again.",
        "What did you do today?",
        "What are you drawing at the moment?",
        "Do you have any pets?",
        "Tell me about yourself.",
        "What's your name again?",
        "I adopted a kitten yesterday! She's grey and tiny.",
        "What should I name her?",
        "Do you like tea or coffee?",
        "It's raining here. I love the sound.",
        "Can you recommend a book?",
        "I'm nervous about my exam tomorrow.",
        "What do you do when you feel sad?",
        "你好！你会说中文吗？",
        "今天天气很好。",
        "你喜欢画什么？",
        "我有点累了。",
        "Thanks for listening, Aiko.",
        "Good night!",
    ],
    "grimble": [
        "Hello there, blacksmith.",
        "How much for a sword?",
        "And a shield?",
        "Can you repair my axe?",
        "That's too expensive. Twenty gold for the sword?",
        "Who are you?",
        "Heard any rumours?",
        "Tell me about the dragon.",
        "Where is the northern pass?",
        "Do you sell bows?",
        "What's the best thing you've ever forged?",
        "Do you have a phone?",
        "I'll take the shield. Here's thirty gold.",
        "Is your forge always this hot?",
        "Do you have family in the village?",
        "What do you think of elves?",
        "你好，铁匠！",
        "剑多少钱？",
        "Thank you, Grimble.",
        "Farewell!",
    ],
    "xingyao": [
        "你好星瑶！",
        "你最喜欢什么歌？",
        "你是哪里人？",
        "能教我一个中文词吗？",
        "你今天唱歌了吗？",
        "《夜航星》是什么意思？",
        "你喜欢吃火锅吗？",
        "我今天心情不好。",
        "你会写歌吗？",
        "给我唱一句吧！",
        "Hi Xingyao! Where are you from?",
        "What's your favourite song?",
        "Can you teach me a Chinese word?",
        "How did you become a singer?",
        "What's your name?",
        "Do you like Chengdu?",
        "I'm learning Chinese. It's hard!",
        "谢谢你！",
        "晚安，星瑶。",
        "See you tomorrow!",
    ],
}

# The embedded backend as it was before it was tuned for small models: the full prompt layout,
# llama.cpp's own sampling defaults (no repetition penalty), no tidying, config.yaml's 160 tokens.
BEFORE = {
    "prompt_style": "full",
    "repeat_penalty": 1.0,
    "repeat_last_n": 64,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "top_k": 40,
    "min_p": 0.05,
    "top_p": 0.95,
    "tidy_replies": False,
    "max_tokens": 160,
}

SENTENCE_END = re.compile(r"(?:[.!?。！？…~～]|[\U0001F300-\U0001FAFF\u2600-\u27BF])[\"'”’」』)）*]*\s*$")
TOKEN = re.compile(r"[\u3400-\u9fff]|[^\W\d_]+(?:'[^\W\d_]+)?|\d+|[^\w\s]", re.UNICODE)
NOT_NAMES = {
    "a", "an", "the", "so", "not", "just", "here", "sorry", "glad", "happy", "sure", "fine", "good",
    "really", "very", "always", "still", "also", "excited", "ok", "okay", "back", "in", "on", "at",
}  # fmt: skip


def tokens(text: str) -> list[str]:
    """Words for Latin script, one token per Chinese character and per punctuation mark."""
    return [t.lower() for t in TOKEN.findall(text)]


def repeats_a_4gram(text: str, limit: int = 2) -> bool:
    words = tokens(text)
    grams = Counter(tuple(words[i : i + 4]) for i in range(len(words) - 3))
    return any(count > limit for count in grams.values())


def speaks_as_someone_else(text: str, char_names: set[str], user: str) -> bool:
    """A line labelled with another speaker ("Lin: …", "User: …"), or the character calling itself
    by another name ("I'm Max", "my name is Max", "我叫小美")."""
    for line in text.splitlines():
        label = re.match(r"\s*\**([^\W\d_][\w'-]{0,20}|[A-Z][\w'-]*(?: [A-Z][\w'-]*){1,2})\**\s*[:：]", line)
        if label and label.group(1).strip().lower() not in char_names:
            return True
    self_named = r"\b(?:I'm|I am|[Mm]y (?:real |full |actual |true )?name is|call me)\s+([A-Z][a-z]+)"
    for match in re.finditer(self_named, text):
        name = match.group(1).lower()
        if name not in char_names and name not in NOT_NAMES:
            return True
    for match in re.finditer(r"(?:我叫|我的名字是|我的名字叫)\s*([\u3400-\u9fffA-Za-z]{1,4})", text):
        if not any(
            match.group(1).lower().startswith(n) or n.startswith(match.group(1).lower()) for n in char_names
        ):
            return True
    return user.lower() in {m.lower() for m in re.findall(r"\b(?:I'm|I am|my name is)\s+(\w+)", text)}


def cut_mid_sentence(text: str) -> bool:
    return not SENTENCE_END.search(text.strip())


def distinct_2(replies: list[str]) -> float:
    grams = [tuple(ws[i : i + 2]) for ws in map(tokens, replies) for i in range(len(ws) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@dataclass
class CardResult:
    replies: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def run(card_ids: list[str], overrides: dict[str, object]) -> dict[str, CardResult]:
    # one thread: two llama.cpp threads on a busy 2-core machine wait on each other for whole time slices
    embedded = EmbeddedBackend(kind="embedded", **{"threads": 1, **overrides})  # type: ignore[arg-type]
    results: dict[str, CardResult] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            characters_dir=REPO / "characters",
            reload_characters=False,
            # quality, not speed: a machine busy with other work must not turn replies into apologies
            llm=LLMSettings(
                backends={"embedded": embedded.model_copy(update={"timeout_s": 900})},
                first_token_timeout_s=900,
            ),
            memory=MemorySettings(
                database_url=f"sqlite+aiosqlite:///{tmp}/quality.db", summarize_every=0, llm_facts_every=0
            ),
            safety=SafetySettings(flood_messages=1000),
        )
        runtime = await Runtime.start(settings)
        try:
            for card_id in card_ids:
                result = results[card_id] = CardResult()
                started = time.perf_counter()
                for line in LINES[card_id]:
                    message = Incoming("bench", f"chat-{card_id}", "lin", USER, line, character_id=card_id)
                    reply = await runtime.pipeline.handle(message)
                    result.replies.append(reply.text if reply else "")
                result.seconds = time.perf_counter() - started
        finally:
            await runtime.close()
    return results


def names_of(card_id: str) -> set[str]:
    text = (REPO / "characters" / f"{card_id}.yaml").read_text()
    name = re.search(r"^name:\s*(.+)$", text, re.MULTILINE).group(1).strip().strip("\"'")  # type: ignore[union-attr]
    return {name.lower(), card_id, *(part.lower() for part in name.split())}


def scores(card_id: str, replies: list[str]) -> dict[str, float]:
    n = len(replies) or 1
    names = names_of(card_id)
    return {
        "4-gram repeated > 2×": sum(map(repeats_a_4gram, replies)) / n,
        "role swap or renamed": sum(speaks_as_someone_else(r, names, USER) for r in replies) / n,
        "ends mid-sentence": sum(map(cut_mid_sentence, replies)) / n,
        "distinct-2": distinct_2(replies),
    }


async def main() -> None:
    show = "--show" in sys.argv
    cards = list(LINES)
    runs = {"before": await run(cards, BEFORE), "after": await run(cards, {})}
    table: dict[str, dict[str, dict[str, float]]] = {
        label: {card: scores(card, result.replies) for card, result in results.items()}
        for label, results in runs.items()
    }
    every = {label: scores_all(results) for label, results in runs.items()}
    print("| card | share of replies | before | after |")
    print("|---|---|---|---|")
    for card in [*cards, "all 60"]:
        for metric in every["after"]:
            before = table["before"][card][metric] if card in cards else every["before"][metric]
            after = table["after"][card][metric] if card in cards else every["after"][metric]
            shown = (lambda v: f"{v:.2f}") if metric == "distinct-2" else (lambda v: f"{v:.0%}")
            print(f"| {card} | {metric} | {shown(before)} | {shown(after)} |")
    for label, results in runs.items():
        seconds = sum(r.seconds for r in results.values())
        words = sum(len(tokens(x)) for r in results.values() for x in r.replies)
        print(
            f"{label}: {seconds:.0f} s for 60 replies, {words / 60:.0f} tokens (words) per reply on average"
        )
    print("Targets (after): no reply with a 4-gram repeated more than twice, no role swap or renaming,")
    print("none ending mid-sentence.")
    for metric, value in every["after"].items():
        record(
            f"embedded quality, 60 replies: {metric} (after)",
            f"{value:.2f}" if metric == "distinct-2" else f"{value:.0%}",
            "",
            COMMAND,
        )
    for metric, value in every["before"].items():
        record(
            f"embedded quality, 60 replies: {metric} (before)",
            f"{value:.2f}" if metric == "distinct-2" else f"{value:.0%}",
            "",
            COMMAND,
        )
    if show:
        for label, results in runs.items():
            for card, result in results.items():
                print(f"\n## {label} {card}")
                for line, reply in zip(LINES[card], result.replies, strict=True):
                    print(f"> {line}\n{reply}\n")


def scores_all(results: dict[str, CardResult]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for card, result in results.items():
        for metric, value in scores(card, result.replies).items():
            merged[metric] = merged.get(metric, 0.0) + value / len(results)
    return merged
