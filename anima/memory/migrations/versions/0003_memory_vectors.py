"""Sentence vectors of memories, for the optional vector recall (memory.vectors)."""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import of, owned_by

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "memory_vectors",
        owned_by("entry_id", "search_entries.id", primary_key=True),
        owned_by("conversation_id", "conversations.id"),
        *of(sa.LargeBinary, "vector"),
    )
    op.create_index("ix_memory_vectors_conversation_id", "memory_vectors", ["conversation_id", "entry_id"])


def downgrade() -> None:
    op.drop_table("memory_vectors")
