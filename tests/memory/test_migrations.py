"""Schema migrations: a database from before them is upgraded in place, its messages made searchable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from anima.core.messages import ConversationKey
from anima.memory import migrate
from anima.memory.store import MemoryStore

BASELINE = """
CREATE TABLE users (id INTEGER PRIMARY KEY, platform VARCHAR NOT NULL, platform_user_id VARCHAR NOT NULL,
    display_name VARCHAR NOT NULL, created_at DATETIME NOT NULL, UNIQUE (platform, platform_user_id));
CREATE TABLE conversations (id INTEGER PRIMARY KEY, character_id VARCHAR NOT NULL, user_id INTEGER NOT NULL
    REFERENCES users (id) ON DELETE CASCADE, platform VARCHAR NOT NULL, chat_id VARCHAR NOT NULL,
    history_starts_after INTEGER NOT NULL, created_at DATETIME NOT NULL,
    UNIQUE (character_id, user_id, platform, chat_id));
CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL REFERENCES conversations (id)
    ON DELETE CASCADE, role VARCHAR NOT NULL, content VARCHAR NOT NULL, platform_message_id VARCHAR,
    cut BOOLEAN NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE preferences (platform VARCHAR NOT NULL, chat_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL, value VARCHAR NOT NULL, updated_at DATETIME NOT NULL,
    PRIMARY KEY (platform, chat_id, user_id, key));
INSERT INTO users VALUES (1, 'test', 'lin', 'Lin', '2025-01-01 10:00:00');
INSERT INTO conversations VALUES (1, 'aiko', 1, 'test', 'dm', 0, '2025-01-01 10:00:00');
INSERT INTO messages VALUES (1, 1, 'user', 'My hamster is called Biscuit.', NULL, 0, '2025-01-01 10:00:00');
INSERT INTO messages VALUES (2, 1, 'assistant', 'What a cute name!', NULL, 0, '2025-01-01 10:00:01');
"""


def test_head_names_the_newest_revision() -> None:
    assert migrate.HEAD == migrate.head_in_scripts()


async def test_a_database_from_before_migrations_is_upgraded_and_its_messages_searchable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(BASELINE)

    store = await MemoryStore.open(f"sqlite:///{path}")
    try:
        state = await store.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
        found = await store.recall(state, "what is my hamster called?", skip_recent=0)
    finally:
        await store.close()
    assert found[0].text == "My hamster is called Biscuit."
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (migrate.HEAD,)
