"""gray releases: the gray_releases table

One row per gray release of a config: its content, its target (JSON), its status (active,
promoted, aborted), who started and ended it and with which comment. ``active_config_id`` holds
the config's id while the release runs and NULL afterwards; its unique index allows one running
gray release per config.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from disconf_web.migrations.columns import TABLE_OPTIONS, long_text, name

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "gray_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=False),
        sa.Column("active_config_id", sa.Integer(), nullable=True),
        sa.Column("value", long_text(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("base_revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", name(64), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", name(64), nullable=True),
        sa.Column("end_comment", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(["active_config_id"], ["configs.id"]),
        sa.ForeignKeyConstraint(["config_id"], ["configs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("active_config_id"),
        **TABLE_OPTIONS,
    )
    with op.batch_alter_table("gray_releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gray_releases_config_id"), ["config_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gray_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gray_releases_config_id"))
    op.drop_table("gray_releases")
