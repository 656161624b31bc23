"""The inbox: platform events stored before they are acknowledged, replayed after a crash.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String, nullable=False),
        sa.Column("bot_id", sa.String, nullable=False),
        sa.Column("delivery_id", sa.String, nullable=False),
        sa.Column("payload", sa.String, nullable=False),
        sa.Column("owner", sa.String, nullable=False, server_default=""),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("platform", "bot_id", "delivery_id"),
    )
    op.create_index("ix_inbox_pending", "inbox", ["platform", "bot_id", "answered_at"])


def downgrade() -> None:
    op.drop_table("inbox")
