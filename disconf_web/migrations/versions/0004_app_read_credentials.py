"""apps: an opt-in read credential for the Disconf client endpoints

One row per app that requires ``X-Disconf-Read-Token`` on the client endpoints; only the
credential's SHA-256 is stored. No row (every existing app after the upgrade): reads stay open,
as in the original protocol.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from disconf_web.migrations.columns import TABLE_OPTIONS, name

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "app_read_credentials",
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_by", name(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("app_id"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("app_read_credentials")
