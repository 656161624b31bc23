"""Which bot a conversation is held through, and so which bot's admins see what came of it."""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import defaulted, drop_columns

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column("conversations", defaulted("bot_id", sa.String, ""))
    op.add_column("soul_proposals", defaulted("source_bot", sa.String, ""))
    op.add_column("soul_entries", defaulted("bot_id", sa.String, ""))


def downgrade() -> None:
    drop_columns("soul_entries", "bot_id")
    drop_columns("soul_proposals", "source_bot")
    drop_columns("conversations", "bot_id")
