"""Which bot a conversation is held through, and so which bot's admins see what came of it.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("bot_id", sa.String, nullable=False, server_default=""))
    op.add_column("soul_proposals", sa.Column("source_bot", sa.String, nullable=False, server_default=""))
    op.add_column("soul_entries", sa.Column("bot_id", sa.String, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("soul_entries") as batch:
        batch.drop_column("bot_id")
    with op.batch_alter_table("soul_proposals") as batch:
        batch.drop_column("source_bot")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("bot_id")
