"""LoCoMo evidence recall: replay each conversation into memory, ask recall for every question.

Used by `anima bench memory --locomo PATH` (`run_bench`) and bench/memory_bench.py. speaker_a is the user and
speaker_b the character; each turn is stored with its session's date (an image's caption, when
the turn shared one, is part of its text, as a platform adapter would describe the picture); rule
facts are extracted from the user's turns as the keeper would. A recalled fact counts as the turn
it came from. No LLM is called anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col

from anima.core.messages import ConversationKey, HistoryRole
from anima.core.tokens import TiktokenCounter
from anima.errors import AnimaError, EmbeddingUnavailable
from anima.memory.embedding import CachedEmbedder
from anima.memory.facts import extract_facts
from anima.memory.models import primary
from anima.memory.recall import Memory
from anima.memory.store import MemoryStore
from anima.memory.vectors import Encoder, Encoding
from anima.memory.vectors import encoder as load_encoder
from anima.ops.figures import Figure

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
KS = (5, 10, 20)
COMMAND = "anima bench memory --locomo ../shared/benchmarks/locomo"


@dataclass
class Results:
    recall: dict[tuple[int, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    latencies_ms: list[float] = field(default_factory=list)
    tokens_at_10: list[int] = field(default_factory=list)
    turns: int = 0
    conversations: int = 0

    def mean(self, k: int, category: int | None = None) -> float:
        values = [
            v for (cat, kk), vs in self.recall.items() if kk == k and category in (None, cat) for v in vs
        ]
        return statistics.mean(values) if values else 0.0

    def questions(self, category: int | None = None) -> int:
        return sum(len(vs) for (cat, k), vs in self.recall.items() if k == KS[0] and category in (None, cat))

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def session_time(raw: str) -> datetime:
    """ "1:56 pm on 8 May, 2023" → an aware datetime."""
    return datetime.strptime(raw.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def conversations(path: Path) -> list[dict[str, Any]]:
    files = sorted(path.glob("*.json")) if path.is_dir() else [path] if path.is_file() else []
    if not files:
        raise AnimaError(f"no LoCoMo conversation files (*.json) at {path}: pass --locomo DIR")
    return [json.loads(file.read_text()) for file in files]


def embedding_cache() -> Path:
    """Where the bench keeps the vectors of LoCoMo's texts between runs (outside the repository)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "anima" / "locomo-minilm"


async def evaluate(
    path: Path, database_url: str | None = None, encoder: Encoding | None = None, cache: Path | None = None
) -> Results:
    """Recall@5/10/20 per category over every question that has evidence; with an `encoder`, vector
    similarity too (every turn is embedded after the replay, as the keeper would in the background);
    MiniLM's vectors of texts seen before are read from `cache` (embedding 4,000 turns takes minutes)."""
    from anima.memory.vectors import VectorIndex

    results = Results()
    counter = TiktokenCounter()
    embedder: Encoder | None = None
    if encoder == "static":
        embedder = await asyncio.to_thread(load_encoder, "static")
    elif encoder == "minilm":
        from anima.memory.embedding import MiniLM

        embedder = CachedEmbedder(cache or embedding_cache(), await asyncio.to_thread(MiniLM))
    try:
        for number, data in enumerate(conversations(path)):
            with tempfile.TemporaryDirectory() as tmp:
                url = database_url or f"sqlite:///{tmp}/locomo.db"
                store = await MemoryStore.open(url)
                if embedder is not None:
                    store.vectors = VectorIndex(embedder)
                try:
                    await _one(store, data, number, results, counter)
                finally:
                    await store.close()
            results.conversations += 1
    finally:
        if isinstance(embedder, CachedEmbedder):
            await asyncio.to_thread(embedder.save)
    return results


async def _one(
    store: MemoryStore, data: dict[str, Any], number: int, results: Results, counter: TiktokenCounter
) -> None:
    user, character = data["speaker_a"], data["speaker_b"]
    key = ConversationKey("locomo", f"conv-{number}", f"{user}-{number}", "locomo")
    state = await store.conversation(key, user)
    dia_of: dict[int, str] = {}
    fact_source: dict[int, str] = {}
    last = datetime(1970, 1, 1, tzinfo=UTC)
    n = 1
    while f"session_{n}_date_time" in data:
        turns = data.get(f"session_{n}") or []
        start = session_time(data[f"session_{n}_date_time"])
        for i, turn in enumerate(turns):
            at = start + timedelta(seconds=30 * i)
            text = turn["text"]
            if turn.get("blip_caption"):
                text += f" [shares a photo: {turn['blip_caption']}]"
            role: HistoryRole = "user" if turn["speaker"] == user else "assistant"
            stored = await store.add(state, role, text, at=at)
            dia_of[stored.id] = turn["dia_id"]
            results.turns += 1
            if role == "user":
                facts = extract_facts(text, at)
                if facts and await store.remember_facts(state, facts, source_message_id=stored.id, at=at):
                    for known in await _fact_ids(store, state.id, stored.id):
                        fact_source[known] = turn["dia_id"]
            last = max(last, at)
        n += 1
    await store.embed_pending(state, limit=1_000_000)
    now = last + timedelta(days=1)
    speakers = {user.lower(): "user", character.lower(): "assistant"}
    for qa in data["qa"]:
        evidence = {e.strip() for e in qa.get("evidence") or [] if e.strip()}
        if not evidence:
            continue
        started = time.perf_counter()
        memories = await store.recall(
            state, qa["question"], now=now, limit=max(KS), skip_recent=0, speakers=speakers
        )
        results.latencies_ms.append((time.perf_counter() - started) * 1000)
        found = [_dias(m, dia_of, fact_source) for m in memories]
        for k in KS:
            shown = {dia for dias in found[:k] for dia in dias}
            results.recall[(qa["category"], k)].append(len(evidence & shown) / len(evidence))
        lines = "\n".join(m.line(user, character) for m in memories[:10])
        results.tokens_at_10.append(await counter.count(lines))


def _dias(memory: Memory, dia_of: dict[int, str], fact_source: dict[int, str]) -> set[str]:
    """The LoCoMo turns a recalled memory shows: a turn with its neighbour, or a fact's source."""
    if memory.kind == "turn":
        return {dia_of.get(message, "") for message in memory.message_ids}
    if memory.kind == "fact":
        return {fact_source.get(memory.item_id, "")}
    return set()


async def _fact_ids(store: MemoryStore, conversation_id: int, message_id: int) -> list[int]:
    from sqlalchemy import select

    from anima.memory.models import Fact

    query = select(primary(Fact.id)).where(
        col(Fact.conversation_id) == conversation_id, col(Fact.source_message_id) == message_id
    )
    return list(await store.run(lambda conn: conn.execute(query).scalars().all()))


def table(results: Results, label: str) -> str:
    """A markdown table: recall@k by category, tokens for the top 10, latency."""
    lines = [
        f"| {label} | questions | recall@5 | recall@10 | recall@20 |",
        "|---|---|---|---|---|",
    ]
    for category, name in CATEGORIES.items():
        if results.questions(category):
            cells = " | ".join(f"{results.mean(k, category):.3f}" for k in KS)
            lines.append(f"| {category} {name} | {results.questions(category)} | {cells} |")
    cells = " | ".join(f"**{results.mean(k):.3f}**" for k in KS)
    lines.append(f"| all | {results.questions()} | {cells} |")
    lines.append("")
    lines.append(
        f"{results.conversations} conversations, {results.turns} turns; recalled context at k=10: "
        f"{statistics.mean(results.tokens_at_10):.0f} tokens on average; recall latency "
        f"p50 {results.percentile(0.5):.2f} ms, p95 {results.percentile(0.95):.2f} ms"
    )
    return "\n".join(lines)


async def run_bench(
    path: Path, database_url: str | None = None, vectors: bool = True, minilm: bool = False
) -> list[Figure]:
    """`anima bench memory --locomo PATH`: print recall by full text, then with the default vectors
    (static encoder; `minilm` adds the full encoder, slow the first time); return the headline figures."""
    where = database_url.split("://", 1)[0] if database_url else "sqlite (WAL file)"
    print(f"$ anima bench memory --locomo {path}" + (f" --database {where}" if database_url else ""))
    results = await evaluate(path, database_url)
    print(table(results, f"LoCoMo, full-text + fusion ({where})"))
    name = f"LoCoMo evidence recall@10, full-text ({where})"
    figures = [Figure(name, f"{results.mean(10):.3f}", "", COMMAND)]
    encoders: list[Encoding] = (["static", "minilm"] if minilm else ["static"]) if vectors else []
    for encoder in encoders:
        try:
            with_vectors = await evaluate(path, database_url, encoder)
        except EmbeddingUnavailable as exc:
            print(f"\n(vector recall not measured: {exc})")
            return figures
        print()
        print(table(with_vectors, f"LoCoMo, + {encoder} vectors ({where})"))
        name = f"LoCoMo evidence recall@10, + {encoder} vectors ({where})"
        figures.append(Figure(name, f"{with_vectors.mean(10):.3f}", "", COMMAND))
    return figures
