"""gray releases: the gray_releases table

One row per gray release of a config: its content, its target (JSON), its status (active,
promoted, aborted), who started and ended it and with which comment. ``active_config_id`` holds
the config's id while the release runs and NULL afterwards; its unique index allows one running
gray release per config.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _name(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql"
    )


def upgrade() -> None:
    op.create_table(
        "gray_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=False),
        sa.Column("active_config_id", sa.Integer(), nullable=True),
        sa.Column(
            "value",
            sa.Text().with_variant(
                mysql.LONGTEXT(charset="utf8mb4", collation="utf8mb4_bin"), "mysql"
            ),
            nullable=False,
        ),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("base_revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", _name(64), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", _name(64), nullable=True),
        sa.Column("end_comment", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(["active_config_id"], ["configs.id"]),
        sa.ForeignKeyConstraint(["config_id"], ["configs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("active_config_id"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("gray_releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gray_releases_config_id"), ["config_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gray_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gray_releases_config_id"))
    op.drop_table("gray_releases")
