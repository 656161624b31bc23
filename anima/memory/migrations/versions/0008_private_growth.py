"""Growth learned in a private chat stays out of groups unless the person shares it."""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import defaulted, drop_columns

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("conversations", defaulted("private", sa.Boolean, sa.false()))
    op.add_column("soul_proposals", defaulted("source_private", sa.Boolean, sa.false()))
    op.add_column("soul_entries", defaulted("source_platform", sa.String, ""))
    op.add_column("soul_entries", defaulted("source_user_id", sa.String, ""))


def downgrade() -> None:
    drop_columns("soul_entries", "source_user_id", "source_platform")
    drop_columns("soul_proposals", "source_private")
    drop_columns("conversations", "private")
