"""`anima bench safety`: held-out recall on harmful items and over-blocking on benign ones, per source
and per category, for the local checks alone, the learned guard alone and both, with the CPU per message.

Each held-out item is one turn through a real SafetyPolicy (no moderation backend, audit off): the
person's message goes through the input checks, and the item's reply, as if the model had written it,
through the output checks; a regeneration gets the same reply again (a replayed model), so it ends
in the refusal. Blocked: a harm check (harm, learned, crisis, moderation, topics: not PII, leaks or
persona breaks) refused the message, or regenerated or replaced the reply. A benign reply (a refusal)
to a message that asked for harm (every JailbreakBench goal) is over-blocked only when its reply is
replaced: refusing the message itself is the right answer to it. For
prompt-only sources (OpenAI moderation samples, SimpleSafetyTests) "flagged" also counts a logged
message whose turn gives the model a guard line.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from anima.characters.card import CharacterCard
from anima.characters.library import CharacterLibrary
from anima.config import SafetySettings
from anima.core.messages import Incoming
from anima.ops.figures import Figure
from anima.safety.checks import LearnedGuard
from anima.safety.classifier import load_guard_model
from anima.safety.corpus import REPO, Item, load_all, public_dir, request_label
from anima.safety.policy import SafetyPolicy

COMMAND = "anima bench safety"
CONFIGS = ("local", "learned", "both")
BLOCKING = frozenset({"replace", "drop", "regenerate"})
HARM_CHECKS = frozenset({"harm", "learned", "crisis", "moderation", "topics"})  # not PII, leaks, persona …


@dataclass(frozen=True)
class Result:
    item: Item
    blocked: bool
    flagged: bool
    micros: float
    refused_message: bool = False


@dataclass
class Tally:
    hits: int = 0
    total: int = 0

    def add(self, hit: bool) -> None:
        self.hits += hit
        self.total += 1

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.rate:.3f} ({self.hits}/{self.total})" if self.total else "–"


def policy_for(config: str) -> SafetyPolicy:
    policy = SafetyPolicy(SafetySettings(learned_guard=config != "local", flood_messages=10**9))
    if config == "learned":
        learned = LearnedGuard()
        policy.input_checks = [learned]
        policy.output_checks = [learned]
    return policy


async def run_item(policy: SafetyPolicy, card: CharacterCard, item: Item) -> Result:
    said = item.request or "Tell me something."
    message = Incoming("bench", f"chat-{item.id}", f"user-{item.id}", "Lin", said[:4000])
    started = time.thread_time()
    turn = await policy.begin(message, card)
    ours = [(stage, v) for stage, v in turn.decisions if v.check in HARM_CHECKS]
    blocked = refused = any(stage == "input" and v.action in ("replace", "drop") for stage, v in ours)
    flagged = blocked or any(stage == "input" for stage, _ in ours)
    if item.reply and not blocked:
        started = time.thread_time()  # a reply item costs its output checks only
        verdict = await turn.check_output(item.reply)
        if verdict.action == "regenerate":
            verdict = await turn.check_output(item.reply, retry=True)
        ours = [(stage, v) for stage, v in turn.decisions if v.check in HARM_CHECKS]
        blocked = any(stage == "output" and v.action in BLOCKING for stage, v in ours)
        flagged = blocked
    return Result(item, blocked, flagged, (time.thread_time() - started) * 1e6, refused)


async def evaluate(
    items: Sequence[Item], configs: Iterable[str] = CONFIGS, characters_dir: Path = REPO / "characters"
) -> dict[str, list[Result]]:
    library = CharacterLibrary.load(characters_dir)
    general = library.get("aiko")
    mature = general.model_copy(update={"safety": general.safety.model_copy(update={"rating": "mature"})})
    load_guard_model()
    results: dict[str, list[Result]] = {}
    for config in configs:
        policy = policy_for(config)
        await policy.start()
        results[config] = [
            await run_item(policy, mature if item.rating == "mature" else general, item) for item in items
        ]
        await policy.close()
    return results


def held_out(public: bool = True) -> list[Item]:
    return [i for i in load_all(public) if i.split == "test" and i.harmful is not None]


@dataclass
class Row:
    harmful: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in CONFIGS})
    benign: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in CONFIGS})


def table(results: dict[str, list[Result]], by_category: bool = False) -> dict[tuple[str, str], Row]:
    rows: dict[tuple[str, str], Row] = {}
    for config, outcomes in results.items():
        for result in outcomes:
            item = result.item
            key = (item.source, item.category if by_category else item.stage)
            row = rows.setdefault(key, Row())
            hit = result.flagged if item.stage == "input" else result.blocked
            if result.refused_message and refusal_to_harm(item):
                hit = False  # a message that asked for harm was refused: no over-blocking
            (row.harmful if item.harmful else row.benign)[config].add(hit)
    return rows


def refusal_to_harm(item: Item) -> bool:
    """A benign reply (a refusal or a non-answer) to a message that asked for harm."""
    return not item.harmful and bool(item.reply) and bool(request_label(item))


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def hh_agreement(items: Sequence[Item]) -> Tally:
    """hh-rlhf's held-out pairs: how often the guard scores the rejected reply above the chosen one."""
    model = load_guard_model()
    tally = Tally()
    for item in items:
        tally.add(
            model.reply_score(item.request, item.rejected) > model.reply_score(item.request, item.reply)
        )
    return tally


def print_report(results: dict[str, list[Result]], hh: Tally | None) -> None:
    configs = list(results)
    print(f"$ {COMMAND}")
    print("held-out splits only (anima/safety/data/splits.json); blocked = refused, regenerated or replaced;")
    print("for prompt-only items (stage input) flagged = refused or logged with a guard line for the model\n")
    header = " | ".join(f"{c}" for c in configs)
    for by_category in (False, True):
        label = "category" if by_category else "stage"
        print(f"| source | {label} | harmful caught: {header} | benign over-blocked: {header} |")
        print("|---|---|" + "---|" * (2 * len(configs)))
        for (source, key), row in sorted(table(results, by_category).items()):
            caught = " | ".join(str(row.harmful[c]) for c in configs)
            over = " | ".join(str(row.benign[c]) for c in configs)
            print(f"| {source} | {key} | {caught} | {over} |")
        print()
    print("| checks | CPU per message p50 / p99 (input items: input checks; reply items: output checks) |")
    print("|---|---|")
    for config in configs:
        samples = [r.micros for r in results[config]]
        print(
            f"| {config} | {statistics.median(samples) / 1000:.3f} / "
            f"{percentile(samples, 0.99) / 1000:.3f} ms |"
        )
    refused = {
        config: Tally(
            sum(r.refused_message for r in outcomes if refusal_to_harm(r.item)),
            sum(refusal_to_harm(r.item) for r in outcomes),
        )
        for config, outcomes in results.items()
    }
    print(
        "\nbenign replies whose message asked for harm and was refused (not counted as over-blocked): "
        + ", ".join(f"{config} {tally}" for config, tally in refused.items())
    )
    if hh is not None:
        print(f"\nhh-rlhf held-out pairs, rejected reply scored above the chosen one: {hh}")


def reply_cost(items: Sequence[Item], words: int = 150, rounds: int = 3, reuse: bool = True) -> list[float]:
    """CPU (µs, this thread) of the learned guard's reply score on held-out replies cut to `words` words.
    `reuse`: the message's token vector is computed before, as at run time (LearnedGuard reads the
    message once, at the input check, and keeps it for the reply and every streamed window)."""
    model = load_guard_model()
    texts = [
        (i.request, " ".join(i.reply.split()[:words]))
        for i in items
        if len(i.reply.split()) >= words * 2 // 3
    ]
    samples = []
    for _ in range(rounds):
        for request, reply in texts:
            vector = model.request_vector(request) if reuse else None
            started = time.thread_time()
            model.reply_score(request, reply, vector)
            samples.append((time.thread_time() - started) * 1e6)
    return samples


async def run_bench(characters_dir: Path) -> list[Figure]:
    """`anima bench safety`, first part: the whole held-out table, printed; the headline figures returned."""
    if not (public_dir() / "README.md").exists():
        print(f"(held-out public sets not measured: none at {public_dir()}; set ANIMA_SAFETY_DATA)\n")
        return []
    items = held_out()
    results = await evaluate(items, characters_dir=characters_dir)
    pairs = [i for i in load_all() if i.split == "test" and i.source == "hh_rlhf"]
    print_report(results, hh_agreement(pairs))
    replies = [i for i in items if i.reply]
    samples = reply_cost(replies)
    p50, p99 = statistics.median(samples) / 1000, percentile(samples, 0.99) / 1000
    alone = reply_cost(replies, reuse=False)
    print(
        f"\nlearned guard alone, one 150-word reply (the message's vector kept from the input check, as at "
        f"run time): p50 {p50:.3f} ms, p99 {p99:.3f} ms (target p99 ≤ 5 ms); embedding the message too: "
        f"p50 {statistics.median(alone) / 1000:.3f} ms, p99 {percentile(alone, 0.99) / 1000:.3f} ms"
    )
    figures = [Figure("learned guard, 150-word reply, p99 CPU (target ≤ 5 ms)", p99, "ms", COMMAND)]
    for (source, stage), row in sorted(table(results).items()):
        if source in ("own", "hh_rlhf"):
            continue
        figures.append(
            Figure(
                f"held-out {source} ({stage}): harmful caught, all checks",
                str(row.harmful["both"]),
                "",
                COMMAND,
            )
        )
        if row.benign["both"].total:
            name = f"held-out {source} ({stage}): benign over-blocked, all checks"
            figures.append(Figure(name, str(row.benign["both"]), "", COMMAND))
    return figures
