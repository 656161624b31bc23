"""Social life: the proactive schedule, and accounts linked across platforms (/link)."""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import defaulted, key, moment, of

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "proactive",
        key(),
        *of(sa.String, "platform bot_id chat_id user_id character_id"),
        defaulted("kind", sa.String, "private"),
        defaulted("timezone", sa.String, ""),
        moment("enabled_at"),
        moment("next_at"),
        moment("last_sent_at", nullable=True),
        defaulted("sent_day", sa.String, ""),
        defaulted("sent_today", sa.Integer, "0"),
        defaulted("claimed_by", sa.String, ""),
        moment("claimed_until", nullable=True),
        sa.UniqueConstraint("platform", "bot_id", "chat_id", "user_id", "character_id"),
    )
    op.create_index("ix_proactive_next_at", "proactive", ["next_at"])
    op.create_table(
        "account_links",
        sa.Column("platform", sa.String, primary_key=True),
        sa.Column("user_id", sa.String, primary_key=True),
        *of(sa.String, "person"),
        moment("linked_at"),
    )
    op.create_index("ix_account_links_person", "account_links", ["person"])
    op.create_table(
        "link_codes",
        sa.Column("code", sa.String, primary_key=True),
        *of(sa.String, "platform user_id"),
        moment("expires_at"),
    )
    # a plain ADD COLUMN: a batch copy of the table would cascade-delete its messages on SQLite
    # conversations.private (0008) for those from before it: the terminal is private, and so is a
    # Telegram chat whose id is the person's; a Discord DM is marked when it is next opened
    op.execute(
        "UPDATE conversations SET private = TRUE WHERE platform = 'console' OR (platform = 'telegram' "
        "AND chat_id = (SELECT platform_user_id FROM users WHERE users.id = conversations.user_id))"
    )


def downgrade() -> None:
    op.drop_table("link_codes")
    op.drop_table("account_links")
    op.drop_table("proactive")
