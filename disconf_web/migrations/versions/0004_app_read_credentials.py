"""apps: an opt-in read credential for the Disconf client endpoints

One row per app that requires ``X-Disconf-Read-Token`` on the client endpoints; only the
credential's SHA-256 is stored. No row (every existing app after the upgrade): reads stay open,
as in the original protocol.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_read_credentials",
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "updated_by",
            sa.String(length=64).with_variant(
                mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=64), "mysql"
            ),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("app_id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("app_read_credentials")
