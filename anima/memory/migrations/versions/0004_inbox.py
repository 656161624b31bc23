"""The inbox: platform events stored before they are acknowledged, replayed after a crash."""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import defaulted, key, moment, of

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "inbox",
        key(),
        *of(sa.String, "platform bot_id delivery_id payload"),
        defaulted("owner", sa.String, ""),
        moment("received_at"),
        moment("answered_at", nullable=True),
        sa.UniqueConstraint("platform", "bot_id", "delivery_id"),
    )
    op.create_index("ix_inbox_pending", "inbox", ["platform", "bot_id", "answered_at"])


def downgrade() -> None:
    op.drop_table("inbox")
