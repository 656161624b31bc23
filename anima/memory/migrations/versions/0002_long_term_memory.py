"""Long-term memory: summaries, facts, and one full-text index over turns, summaries and facts.

SQLite: an FTS5 table over search_entries (external content, kept in step by triggers).
PostgreSQL: a generated tsvector column. Existing messages are indexed as turns.
"""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import key, moment, of, owned_by
from anima.memory.search import index_text

revision = "0002"
down_revision = "0001"

_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(body, context, content='search_entries', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_entries_insert AFTER INSERT ON search_entries BEGIN "
    "INSERT INTO search_fts(rowid, body, context) "
    "VALUES (new.id, new.body, new.context); END",
    "CREATE TRIGGER search_entries_delete AFTER DELETE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, body, context) "
    "VALUES ('delete', old.id, old.body, old.context); END",
    "CREATE TRIGGER search_entries_update AFTER UPDATE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, body, context) "
    "VALUES ('delete', old.id, old.body, old.context); "
    "INSERT INTO search_fts(rowid, body, context) "
    "VALUES (new.id, new.body, new.context); END",
]
_POSTGRES_DOCUMENT = (
    "ALTER TABLE search_entries ADD COLUMN document tsvector GENERATED ALWAYS AS "
    "(setweight(to_tsvector('english', body), 'A') || setweight(to_tsvector('english', context), 'B')) STORED"
)


def upgrade() -> None:
    op.create_table(
        "summaries",
        key(),
        owned_by("conversation_id", "conversations.id"),
        *of(sa.Integer, "first_message_id last_message_id"),
        *of(sa.String, "content"),
        *(moment(name) for name in ("started_at", "ended_at", "created_at")),
    )
    op.create_index("ix_summaries_conversation_id", "summaries", ["conversation_id", "last_message_id"])
    op.create_table(
        "facts",
        key(),
        owned_by("conversation_id", "conversations.id"),
        *of(sa.String, "topic content"),
        *of(sa.Float, "importance"),
        moment("happened_at", nullable=True),
        *of(sa.String, "source"),
        *of(sa.Integer, "source_message_id", nullable=True),
        moment("superseded_at", nullable=True),
        moment("created_at"),
    )
    op.create_index("ix_facts_conversation_id", "facts", ["conversation_id", "topic"])
    op.create_table(
        "search_entries",
        key(),
        owned_by("conversation_id", "conversations.id"),
        *of(sa.String, "kind"),
        *of(sa.Integer, "item_id"),
        *of(sa.String, "role body context"),
        *of(sa.Float, "importance"),
        moment("created_at"),
        sa.UniqueConstraint("kind", "item_id"),
    )
    op.create_index("ix_search_entries_conversation_id", "search_entries", ["conversation_id", "created_at"])
    if op.get_context().dialect.name == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    else:
        op.execute(_POSTGRES_DOCUMENT)
    _index_existing_messages()


def _index_existing_messages() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, conversation_id, role, content, created_at, "
            "LAG(content, 1, '') OVER (PARTITION BY conversation_id ORDER BY id), "
            "LEAD(content, 1, '') OVER (PARTITION BY conversation_id ORDER BY id) FROM messages"
        )
    )
    insert = sa.text(
        "INSERT INTO search_entries (conversation_id, kind, item_id, role, body, context, "
        "importance, created_at) "
        "VALUES (:conversation_id, 'turn', :item_id, :role, :body, :context, 0.5, :created_at)"
    )
    batch = []
    for message_id, conversation_id, role, content, created_at, previous, following in rows:
        batch.append(
            {
                "conversation_id": conversation_id,
                "item_id": message_id,
                "role": role,
                "body": index_text(content, conn.dialect.name, conversation_id),
                "context": index_text(f"{previous} {following}", conn.dialect.name, conversation_id),
                "created_at": created_at,
            }
        )
    if batch:
        conn.execute(insert, batch)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    for table in ("search_entries", "facts", "summaries"):
        op.drop_table(table)
