"""Growth learned in a private chat stays out of groups unless the person shares it.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    false = sa.false()
    op.add_column("conversations", sa.Column("private", sa.Boolean, nullable=False, server_default=false))
    op.add_column(
        "soul_proposals", sa.Column("source_private", sa.Boolean, nullable=False, server_default=false)
    )
    op.add_column("soul_entries", sa.Column("source_platform", sa.String, nullable=False, server_default=""))
    op.add_column("soul_entries", sa.Column("source_user_id", sa.String, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("soul_entries") as batch:
        batch.drop_column("source_user_id")
        batch.drop_column("source_platform")
    with op.batch_alter_table("soul_proposals") as batch:
        batch.drop_column("source_private")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("private")
