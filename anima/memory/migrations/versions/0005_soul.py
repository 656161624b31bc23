"""Soul growth: proposals, learned entries and versions of each character's learned layer.

Revision ID: 0005
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _moment(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "soul_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("character_id", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("note", sa.String, nullable=False),
        sa.Column("approved_by", sa.String, nullable=False),
        sa.Column("proposal_id", sa.Integer, nullable=True),
        _moment("created_at"),
        sa.UniqueConstraint("character_id", "version"),
    )
    op.create_table(
        "soul_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("character_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("platform", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("origin_id", sa.Integer, nullable=False),
        sa.Column("proposal_id", sa.Integer, nullable=True),
        sa.Column("added_version", sa.Integer, nullable=False),
        sa.Column("removed_version", sa.Integer, nullable=True),
        _moment("created_at"),
    )
    op.create_index("ix_soul_entries_character_id", "soul_entries", ["character_id", "removed_version"])
    op.create_index("ix_soul_entries_user", "soul_entries", ["platform", "user_id"])
    op.create_table(
        "soul_proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("character_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("platform", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("source_platform", sa.String, nullable=False),
        sa.Column("source_user_id", sa.String, nullable=False),
        sa.Column("conversation_id", sa.Integer, nullable=True),
        sa.Column("evidence", sa.String, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("decided_by", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        _moment("created_at"),
        _moment("decided_at", nullable=True),
    )
    op.create_index("ix_soul_proposals_character_id", "soul_proposals", ["character_id", "status"])
    op.create_index("ix_soul_proposals_source", "soul_proposals", ["source_platform", "source_user_id"])


def downgrade() -> None:
    for table in ("soul_proposals", "soul_entries", "soul_versions"):
        op.drop_table(table)
