"""Sentence vectors of memories, for the optional vector recall (memory.vectors).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memory_vectors",
        sa.Column(
            "entry_id", sa.Integer, sa.ForeignKey("search_entries.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "conversation_id",
            sa.Integer,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_memory_vectors_conversation_id", "memory_vectors", ["conversation_id", "entry_id"])


def downgrade() -> None:
    op.drop_table("memory_vectors")
