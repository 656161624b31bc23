"""Soul growth: proposals, learned entries and versions of each character's learned layer."""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import key, moment, of

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "soul_versions",
        key(),
        *of(sa.String, "character_id"),
        *of(sa.Integer, "version"),
        *of(sa.String, "action note approved_by"),
        *of(sa.Integer, "proposal_id", nullable=True),
        moment("created_at"),
        sa.UniqueConstraint("character_id", "version"),
    )
    op.create_table(
        "soul_entries",
        key(),
        *of(sa.String, "character_id kind text platform user_id"),
        *of(sa.Integer, "origin_id"),
        *of(sa.Integer, "proposal_id", nullable=True),
        *of(sa.Integer, "added_version"),
        *of(sa.Integer, "removed_version", nullable=True),
        moment("created_at"),
    )
    op.create_index("ix_soul_entries_character_id", "soul_entries", ["character_id", "removed_version"])
    op.create_index("ix_soul_entries_user", "soul_entries", ["platform", "user_id"])
    op.create_table(
        "soul_proposals",
        key(),
        *of(sa.String, "character_id kind text platform user_id source_platform source_user_id"),
        *of(sa.Integer, "conversation_id", nullable=True),
        *of(sa.String, "evidence"),
        *of(sa.Float, "confidence"),
        *of(sa.String, "status reason decided_by"),
        *of(sa.Integer, "version", nullable=True),
        moment("created_at"),
        moment("decided_at", nullable=True),
    )
    op.create_index("ix_soul_proposals_character_id", "soul_proposals", ["character_id", "status"])
    op.create_index("ix_soul_proposals_source", "soul_proposals", ["source_platform", "source_user_id"])


def downgrade() -> None:
    for table in ("soul_proposals", "soul_entries", "soul_versions"):
        op.drop_table(table)
