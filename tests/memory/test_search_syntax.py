"""Any text at all makes a valid full-text query: nothing a user types becomes FTS5 syntax."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from anima.memory.search import index_text, parse_query

DB = sqlite3.connect(":memory:")
DB.execute(
    "CREATE VIRTUAL TABLE search_fts USING fts5(body, context, tokenize='unicode61 remove_diacritics 2')"
)
DB.execute(
    "INSERT INTO search_fts VALUES (?, '')", (index_text("a cat named Momo 猫咪 ünïcode", "sqlite", 1),)
)

hostile = st.sampled_from(
    ['"', "*", "NEAR", "OR", "AND", "NOT", "(", ")", ":", "^", "-", "+", "'", "body:", "🙂"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), hostile), max_size=12).map(" ".join))
def test_any_message_gives_a_valid_fts5_query(message: str) -> None:
    query = parse_query(message)
    if query:
        DB.execute("SELECT rowid FROM search_fts WHERE search_fts MATCH ?", (query.fts5(1),)).fetchall()


def test_a_word_matches_its_other_forms_and_accents_do_not_matter() -> None:
    for word in ("cats", "naming", "MOMO", "unicode", "猫咪"):
        query = parse_query(word).fts5(1)
        assert DB.execute(
            "SELECT count(*) FROM search_fts WHERE search_fts MATCH ?", (query,)
        ).fetchone() == (1,)


def test_another_conversations_terms_never_match() -> None:
    query = parse_query("cat momo")
    assert DB.execute(
        "SELECT count(*) FROM search_fts WHERE search_fts MATCH ?", (query.fts5(2),)
    ).fetchone() == (0,)
